//! The recording fake: every call recorded; `open` answers what it is told (a worktree by
//! default), or fails when told to.

use std::path::Path;
use std::sync::Mutex;

use super::{Names, Opened, Worktrees};
use crate::config::Resident;
use crate::os::{OsError, Recorder};

#[derive(Debug, Default)]
pub struct FakeWorktrees {
    pub calls: Recorder,
    /// What `open` answers next (a worktree named by its base when None).
    pub answer: Mutex<Option<Opened>>,
    /// Makes `open` fail.
    pub fail: bool,
}

impl Worktrees for FakeWorktrees {
    fn open(&self, r: &Resident, _: &Path, names: &Names) -> Result<Opened, OsError> {
        let base = &names.base;
        self.calls.record(format!(
            "open {} {base} not {}",
            r.name,
            names.others.join(" ")
        ));
        if self.fail {
            return Err(OsError::new("making a worktree", "told to fail"));
        }
        Ok(self
            .answer
            .lock()
            .expect("lock")
            .clone()
            .unwrap_or_else(|| {
                let taken = names.others.contains(base);
                let slug = if taken { &names.last } else { base };
                Opened::Made { slug: slug.clone() }
            }))
    }

    fn dirty(&self, r: &Resident, _: &Path, slugs: &[String]) -> Vec<Option<u64>> {
        self.calls
            .record(format!("dirty {} {}", r.name, slugs.join(" ")));
        slugs.iter().map(|_| Some(1)).collect()
    }

    fn prune(&self, r: &Resident, _: &Path) -> Result<(), OsError> {
        self.calls.record(format!("prune {}", r.name));
        Ok(())
    }
}
