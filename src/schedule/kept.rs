//! The schedules mayors made in chat (`!every`), in root's state dir: each numbered once
//! (a number is never given again, so `!unschedule 3` cannot reach a later schedule), and
//! kept across restarts and resets until `!unschedule`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::os::OsError;

/// Chat-made schedules per resident: past it, `!every` is refused.
pub const MAX_PER_RESIDENT: usize = 20;
const HELP: &str = "it holds the schedules made in chat; move it away and they are gone (their timers are removed at the next start)";

/// A schedule a mayor made in chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Made {
    pub n: u64,
    pub resident: String,
    pub on: String,
    pub prompt: String,
    pub room: String,
    pub by: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    next: u64,
    made: Vec<Made>,
}

pub struct Kept {
    path: PathBuf,
    record: Mutex<Record>,
}

impl Kept {
    /// The record in `state`; a corrupt one is refused here, naming it.
    pub fn load(state: &Path) -> Result<Self, OsError> {
        let path = state.join("schedules.json");
        let record = crate::os::read_state(&path, HELP)?.unwrap_or_default();
        Ok(Self {
            path,
            record: Mutex::new(record),
        })
    }

    pub fn all(&self) -> Vec<Made> {
        self.record.lock().expect("lock").made.clone()
    }

    /// Keep a new schedule under the next number; refused past the most a resident keeps.
    pub fn add(&self, mut made: Made) -> Result<Made, String> {
        let mut r = self.record.lock().expect("lock");
        let theirs = r
            .made
            .iter()
            .filter(|m| m.resident == made.resident)
            .count();
        if theirs >= MAX_PER_RESIDENT {
            return Err(format!(
                "{} already has {MAX_PER_RESIDENT} schedules made in chat, the most it keeps: `!unschedule N` one first",
                made.resident
            ));
        }
        r.next = r.next.max(1);
        made.n = r.next;
        r.next += 1;
        r.made.push(made.clone());
        crate::os::write_state(&self.path, &*r).map_err(|e| e.to_string())?;
        Ok(made)
    }

    /// Forget `resident`'s schedule `n`; what it was.
    pub fn remove(&self, resident: &str, n: u64) -> Result<Option<Made>, String> {
        let mut r = self.record.lock().expect("lock");
        let Some(i) = r
            .made
            .iter()
            .position(|m| m.resident == resident && m.n == n)
        else {
            return Ok(None);
        };
        let gone = r.made.remove(i);
        crate::os::write_state(&self.path, &*r).map_err(|e| e.to_string())?;
        Ok(Some(gone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(resident: &str) -> Made {
        Made {
            n: 0,
            resident: resident.into(),
            on: "daily".into(),
            prompt: "p".into(),
            room: "!r:t".into(),
            by: "@m:t".into(),
        }
    }

    #[test]
    fn numbers_are_never_given_again_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let k = Kept::load(dir.path()).unwrap();
        assert_eq!(k.add(made("ada")).unwrap().n, 1);
        assert_eq!(k.add(made("ada")).unwrap().n, 2);
        assert_eq!(k.remove("vox", 2).unwrap(), None, "only ada's own number");
        assert!(k.remove("ada", 2).unwrap().is_some());
        let again = Kept::load(dir.path()).unwrap();
        assert_eq!(again.add(made("ada")).unwrap().n, 3);
        assert_eq!(again.all().len(), 2);
        for _ in 2..MAX_PER_RESIDENT {
            again.add(made("ada")).unwrap();
        }
        assert!(again.add(made("ada")).is_err());
        assert!(again.add(made("vox")).is_ok());
        std::fs::write(dir.path().join("schedules.json"), "{").unwrap();
        assert!(Kept::load(dir.path()).is_err());
    }
}
