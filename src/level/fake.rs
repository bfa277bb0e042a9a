//! The recording fake of this seam (FakePresence), compiled for tests only.

use std::sync::Mutex;

use crate::os::Recorder;

use super::*;

/// Records every call; `fail` names calls (e.g. "kill_all") that return an error, and
/// `survivors` is what kill_all reports as left.
#[derive(Debug, Default)]
pub struct FakePresence {
    pub calls: Recorder,
    pub fail: Mutex<Vec<&'static str>>,
    pub survivors: Mutex<Vec<Survivor>>,
}

impl FakePresence {
    fn call(&self, name: &'static str, detail: String) -> Result<(), OsError> {
        self.calls.record(format!("{name} {detail}"));
        if self.fail.lock().expect("lock").contains(&name) {
            return Err(OsError::new(format!("{name} {detail}"), "told to fail"));
        }
        Ok(())
    }
}

impl Presence for FakePresence {
    fn end_sessions(&self, uid: u32) -> Result<(), OsError> {
        self.call("end_sessions", uid.to_string())
    }
    fn count(&self, uid: u32) -> Result<u32, OsError> {
        self.call("count", uid.to_string()).map(|()| 3)
    }
    fn kill_all(&self, uid: u32) -> Result<Vec<Survivor>, OsError> {
        self.call("kill_all", uid.to_string())?;
        Ok(self.survivors.lock().expect("lock").clone())
    }
    fn remove_ipc(&self, uid: u32) -> Result<u32, OsError> {
        self.call("remove_ipc", uid.to_string()).map(|()| 1)
    }
    fn clear_keyrings(&self, uid: u32) -> Result<(), OsError> {
        self.call("clear_keyrings", uid.to_string())
    }
    fn clear_journal(&self, uid: u32) -> Result<u32, OsError> {
        self.call("clear_journal", uid.to_string()).map(|()| 0)
    }
    fn sweep(&self, uid: u32, dir: &Path) -> Result<u64, OsError> {
        self.call("sweep", format!("{uid} {}", dir.display()))
            .map(|()| 1)
    }
    fn confine(&self, residents: &[(u32, crate::config::Limits)]) -> Result<(), OsError> {
        self.call(
            "confine",
            residents
                .iter()
                .map(|(u, _)| u.to_string())
                .collect::<Vec<_>>()
                .join(","),
        )
    }
}
