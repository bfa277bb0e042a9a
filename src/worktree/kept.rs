//! Which conversation has which worktree, per resident and round, in root's state dir: a
//! conversation keeps its worktree across turns and daemon restarts, and a new round (the
//! home is new) starts it afresh. The file is the record, read at each use and changed
//! under a lock, so a rollback at root's terminal (`townhall rollback`, not the daemon)
//! forgets the places its home no longer has.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::os::OsError;

/// Conversations kept per resident; past it, the oldest of them are forgotten.
const KEPT_MAX: usize = 1000;
const HELP: &str = "it says which conversation has which worktree; move it away and each conversation gets a new worktree at its next turn";

/// A conversation's place in a round: its worktree, or (None) the workspace itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Place {
    round: u64,
    slug: Option<String>,
    /// In the order they were placed, to forget the oldest first.
    n: u64,
}

type Places = BTreeMap<String, BTreeMap<String, Place>>;

pub struct Kept {
    path: PathBuf,
}

impl Kept {
    /// The record in `state`; a corrupt one is refused here, naming it.
    pub fn load(state: &Path) -> Result<Self, OsError> {
        let kept = Self {
            path: state.join("worktrees.json"),
        };
        kept.read()?;
        Ok(kept)
    }

    fn read(&self) -> Result<Places, OsError> {
        Ok(crate::os::read_state(&self.path, HELP)?.unwrap_or_default())
    }

    /// Change the record under its lock.
    fn change(&self, f: impl FnOnce(&mut Places)) -> Result<(), OsError> {
        let lock = self.path.with_extension("lock");
        let what = || format!("locking {}", lock.display());
        let file = std::fs::File::create(&lock).map_err(|e| OsError::new(what(), e))?;
        let _held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| OsError::new(what(), e))?;
        let mut places = self.read()?;
        f(&mut places);
        crate::os::write_state(&self.path, &places)
    }

    /// The conversation's place in `round`, if it has one: Some(None) is the workspace.
    pub fn get(&self, resident: &str, conversation: &str, round: u64) -> Option<Option<String>> {
        let places = self.read().ok()?;
        let place = places.get(resident)?.get(conversation)?;
        (place.round == round).then(|| place.slug.clone())
    }

    /// The conversation runs in `slug`'s worktree (or the workspace) for the rest of `round`;
    /// places of earlier rounds are forgotten. A turn that began before a reset (its round
    /// is past) places nothing.
    pub fn set(
        &self,
        resident: &str,
        conversation: &str,
        round: u64,
        slug: Option<String>,
    ) -> Result<(), OsError> {
        self.change(|map| {
            let places = map.entry(resident.to_string()).or_default();
            if places.values().any(|p| p.round > round) {
                return;
            }
            places.retain(|_, p| p.round == round);
            let n = places.values().map(|p| p.n + 1).max().unwrap_or(0);
            places.insert(conversation.to_string(), Place { round, slug, n });
            while places.len() > KEPT_MAX {
                let oldest = places
                    .iter()
                    .min_by_key(|(_, p)| p.n)
                    .map(|(c, _)| c.clone())
                    .expect("not empty");
                places.remove(&oldest);
            }
        })
    }

    /// The conversation has no place: it is placed again at its next turn.
    pub fn unplace(&self, resident: &str, conversation: &str) -> Result<(), OsError> {
        self.change(|map| {
            if let Some(places) = map.get_mut(resident) {
                places.remove(conversation);
            }
        })
    }

    /// Every place of the resident is forgotten (its home was rolled back: the worktrees
    /// it names may not be there); each conversation is placed again at its next turn.
    pub fn forget(&self, resident: &str) -> Result<(), OsError> {
        self.change(|map| {
            map.remove(resident);
        })
    }

    /// The resident's worktrees in `round`: (conversation, slug), oldest first.
    pub fn of_round(&self, resident: &str, round: u64) -> Vec<(String, String)> {
        let places = self.read().unwrap_or_default();
        let Some(places) = places.get(resident) else {
            return Vec::new();
        };
        let mut out: Vec<(u64, String, String)> = places
            .iter()
            .filter(|(_, p)| p.round == round)
            .filter_map(|(c, p)| Some((p.n, c.clone(), p.slug.clone()?)))
            .collect();
        out.sort();
        out.into_iter().map(|(_, c, s)| (c, s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_lasts_its_round_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let kept = Kept::load(dir.path()).unwrap();
        kept.set("ada", "!r:t/$a", 4, Some("fix".into())).unwrap();
        kept.set("ada", "!r:t", 4, None).unwrap();
        kept.set("vox", "!r:t", 9, Some("tests".into())).unwrap();
        let again = Kept::load(dir.path()).unwrap();
        assert_eq!(again.get("ada", "!r:t/$a", 4), Some(Some("fix".into())));
        assert_eq!(again.get("ada", "!r:t", 4), Some(None));
        assert_eq!(again.get("ada", "!r:t/$a", 5), None, "a new round");
        assert_eq!(again.of_round("ada", 4), [("!r:t/$a".into(), "fix".into())]);
        // The next round's first place forgets the last round's.
        again.set("ada", "!r:t", 5, Some("fresh".into())).unwrap();
        assert_eq!(again.get("ada", "!r:t/$a", 4), None);
        assert_eq!(again.get("vox", "!r:t", 9), Some(Some("tests".into())));
        // A turn begun in round 4 ends after round 5 began: round 5's places stay.
        again
            .set("ada", "!r:t/$late", 4, Some("late".into()))
            .unwrap();
        assert_eq!(again.get("ada", "!r:t", 5), Some(Some("fresh".into())));
        assert_eq!(again.get("ada", "!r:t/$late", 4), None);
        again.unplace("ada", "!r:t").unwrap();
        assert_eq!(again.get("ada", "!r:t", 5), None);
        again.set("ada", "!r:t", 5, Some("fresh".into())).unwrap();
        // A rollback elsewhere (another process) is seen at once.
        Kept::load(dir.path()).unwrap().forget("vox").unwrap();
        assert_eq!(again.get("vox", "!r:t", 9), None);
        assert_eq!(again.get("ada", "!r:t", 5), Some(Some("fresh".into())));
    }

    #[test]
    fn the_oldest_places_are_forgotten_past_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let kept = Kept::load(dir.path()).unwrap();
        for i in 0..=KEPT_MAX {
            kept.set("ada", &format!("c{i}"), 1, None).unwrap();
        }
        assert_eq!(kept.get("ada", "c0", 1), None);
        assert_eq!(kept.get("ada", &format!("c{KEPT_MAX}"), 1), Some(None));
    }
}
