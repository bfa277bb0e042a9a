//! The one error type every OS adapter returns: what townhall was doing and what the system said.

use std::fmt::Display;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action}: {detail}")]
pub struct OsError {
    pub action: String,
    pub detail: String,
}

impl OsError {
    pub fn new(action: impl Into<String>, detail: impl Display) -> Self {
        Self { action: action.into(), detail: detail.to_string() }
    }
}

/// `result.os("deleting /town/@agents")?` — attach the action to any displayable error.
pub trait OsContext<T> {
    fn os(self, action: impl FnOnce() -> String) -> Result<T, OsError>;
}

impl<T, E: Display> OsContext<T> for Result<T, E> {
    fn os(self, action: impl FnOnce() -> String) -> Result<T, OsError> {
        self.map_err(|e| OsError::new(action(), e))
    }
}

/// Replace `path` with `bytes` in one step (write a sibling, rename), mode 0600: a crash
/// leaves the old file or the new one, never half of one. For the state dir's files.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), OsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let what = || format!("saving {}", path.display());
    let tmp = path.with_extension("new");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).os(what)?;
    f.write_all(bytes).os(what)?;
    std::fs::rename(&tmp, path).os(what)
}

/// A log of calls, shared by the recording fakes so unit tests can assert what was done.
#[derive(Debug, Default)]
pub struct Recorder(std::sync::Mutex<Vec<String>>);

impl Recorder {
    pub fn record(&self, call: impl Into<String>) {
        self.0.lock().expect("recorder lock").push(call.into());
    }

    pub fn calls(&self) -> Vec<String> {
        self.0.lock().expect("recorder lock").clone()
    }
}
