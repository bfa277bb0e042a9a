//! The recording fake of this seam (FakeAcls), compiled for tests only.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::os::Recorder;

use super::*;

/// ACLs in memory, per path; records every change. A uid in `failing` makes every grant
/// and revoke for it fail.
#[derive(Debug, Default)]
pub struct FakeAcls {
    pub entries: Mutex<BTreeMap<PathBuf, BTreeMap<u32, Permission>>>,
    pub calls: Recorder,
    pub failing: Mutex<Vec<u32>>,
}

impl FakeAcls {
    fn check(&self, call: String, uid: u32) -> Result<(), OsError> {
        self.calls.record(call.clone());
        if self.failing.lock().expect("lock").contains(&uid) {
            return Err(OsError::new(call, "told to fail"));
        }
        Ok(())
    }
}

impl Acls for FakeAcls {
    fn users(&self, path: &Path) -> Result<BTreeMap<u32, Permission>, OsError> {
        Ok(self
            .entries
            .lock()
            .expect("lock")
            .get(path)
            .cloned()
            .unwrap_or_default())
    }

    fn grant(&self, path: &Path, uid: u32, perm: Permission) -> Result<(), OsError> {
        self.check(format!("grant {} {uid} {perm:?}", path.display()), uid)?;
        self.entries
            .lock()
            .expect("lock")
            .entry(path.to_owned())
            .or_default()
            .insert(uid, perm);
        Ok(())
    }

    fn revoke(&self, path: &Path, uid: u32) -> Result<(), OsError> {
        self.check(format!("revoke {} {uid}", path.display()), uid)?;
        if let Some(e) = self.entries.lock().expect("lock").get_mut(path) {
            e.remove(&uid);
        }
        Ok(())
    }

    fn cut_off(&self, path: &Path, uid: u32) -> Result<crate::grant::Cut, OsError> {
        self.check(format!("cut {} {uid}", path.display()), uid)?;
        Ok(crate::grant::Cut::HungUp)
    }
}
