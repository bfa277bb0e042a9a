//! Answers the chat has not yet confirmed in their rooms. A turn's answer is kept here from
//! the moment the turn ends until the chat says Delivered, so a chat process killed
//! mid-turn posts it after its restart (at least once).

use std::path::PathBuf;
use std::sync::Mutex;

use crate::hall::Delivery;
use crate::os::OsError;

/// Beyond this many unconfirmed answers the oldest are dropped (a chat that never confirms
/// must not grow the state dir).
const KEEP: usize = 100;

pub struct Deliveries {
    path: PathBuf,
    kept: Mutex<Vec<Delivery>>,
}

impl Deliveries {
    pub fn new(state: &std::path::Path) -> Result<Self, OsError> {
        let path = state.join("deliveries.json");
        let help = "it holds answers not yet posted; move it away and those answers are lost";
        let kept = crate::os::read_state(&path, help)?.unwrap_or_default();
        Ok(Self {
            path,
            kept: Mutex::new(kept),
        })
    }

    fn save(&self, kept: &[Delivery]) {
        if let Err(e) = crate::os::write_state(&self.path, kept) {
            tracing::warn!("{e}");
        }
    }

    /// Keep `d` under a fresh id (unique across restarts: never below the clock in ms).
    pub fn add(&self, mut d: Delivery) -> Delivery {
        let mut kept = self.kept.lock().expect("lock");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.as_millis() as u64)
            .unwrap_or(0);
        d.id = kept.iter().map(|k| k.id + 1).max().unwrap_or(0).max(now);
        kept.push(d.clone());
        let over = kept.len().saturating_sub(KEEP);
        kept.drain(..over);
        self.save(&kept);
        d
    }

    /// Forget `id`; what it was.
    pub fn remove(&self, id: u64) -> Option<Delivery> {
        let mut kept = self.kept.lock().expect("lock");
        let i = kept.iter().position(|k| k.id == id)?;
        let gone = kept.remove(i);
        self.save(&kept);
        Some(gone)
    }

    pub fn all(&self) -> Vec<Delivery> {
        self.kept.lock().expect("lock").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hall::Reply;

    fn answer(text: &str) -> Delivery {
        let reply = Reply {
            room: "!r:t".into(),
            thread: None,
            event: "$e".into(),
        };
        Delivery {
            id: 0,
            resident: "ada".into(),
            reply,
            text: text.into(),
            errors: vec![],
            outcome: None,
            answers: vec!["$e".into()],
            came: None,
        }
    }

    #[test]
    fn kept_until_delivered_and_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let d = Deliveries::new(dir.path()).unwrap();
        let a = d.add(answer("one"));
        let b = d.add(answer("two"));
        assert!(b.id > a.id);
        d.remove(a.id);
        let again = Deliveries::new(dir.path()).unwrap();
        assert_eq!(
            again
                .all()
                .iter()
                .map(|x| x.text.as_str())
                .collect::<Vec<_>>(),
            ["two"]
        );
        std::fs::write(dir.path().join("deliveries.json"), "{").unwrap();
        let e = Deliveries::new(dir.path())
            .err()
            .expect("a corrupt file is an error");
        assert!(e.to_string().contains("deliveries.json"), "{e}");
    }
}
