//! The recording fake of the files' way (FakePost), compiled for tests only: it records
//! each call, saves a received file at `inbox/NAME`, sends what the test put in `outbox`,
//! and fails a call named in `fail`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::post::Post;
use super::{INBOX, Outgoing, Resident, Unspooled};
use crate::os::{OsError, Recorder};

#[derive(Debug, Default)]
pub struct FakePost {
    pub calls: Recorder,
    /// What the next `send` finds in the outbox.
    pub outbox: Mutex<Vec<Outgoing>>,
    /// Calls that fail: "receive", "send", "send_file".
    pub fail: Mutex<Vec<&'static str>>,
}

impl FakePost {
    fn fails(&self, call: &str) -> bool {
        self.fail.lock().expect("lock").contains(&call)
    }
}

impl Post for FakePost {
    fn receive(
        &self,
        to: &Resident,
        name: &str,
        spool: &Path,
        max: u64,
    ) -> Result<(PathBuf, u64), Unspooled> {
        self.calls.record(format!(
            "receive {} {name} {} {max}",
            to.uid,
            spool.display()
        ));
        if self.fails("receive") {
            return Err(OsError::new(format!("saving {name}"), "told to fail").into());
        }
        Ok((to.workspace.join(INBOX).join(name), 42))
    }

    fn send(&self, from: &Resident, resident: &str, max: u64) -> (Vec<Outgoing>, Vec<String>) {
        self.calls
            .record(format!("send {} {resident} {max}", from.uid));
        if self.fails("send") {
            return (vec![], vec![format!("{resident}'s outbox: told to fail")]);
        }
        (
            std::mem::take(&mut *self.outbox.lock().expect("lock")),
            vec![],
        )
    }

    fn send_file(
        &self,
        from: &Resident,
        resident: &str,
        path: &str,
        max: u64,
    ) -> Result<Outgoing, OsError> {
        self.calls
            .record(format!("send_file {} {resident} {path} {max}", from.uid));
        if self.fails("send_file") {
            return Err(OsError::new(format!("sending {path}"), "told to fail"));
        }
        let name = super::safe_name(path);
        Ok(Outgoing {
            mimetype: super::mimetype(&name),
            path: PathBuf::from(super::post::HANDOVER).join(&name),
            name,
            bytes: 42,
        })
    }

    fn delivered(&self, files: &[PathBuf]) {
        for f in files {
            self.calls.record(format!("delivered {}", f.display()));
        }
    }
}
