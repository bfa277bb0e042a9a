//! The one error type every OS adapter returns (what townhall was doing and what the system
//! said), and the file writes both processes make: state files atomically and never half
//! written, generated files only when they change; and each process's logging setup
//! (`logging`). Nothing here needs a privilege, so the chat process links it too.

pub mod logging;

use std::fmt::Display;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action}: {detail}")]
pub struct OsError {
    pub action: String,
    pub detail: String,
}

impl OsError {
    pub fn new(action: impl Into<String>, detail: impl Display) -> Self {
        Self {
            action: action.into(),
            detail: detail.to_string(),
        }
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
    write_atomic_mode(path, bytes, 0o600)
}

/// `write_atomic` with `mode`, set explicitly whatever the umask (0644 for what others
/// read, 0755 for a hook).
pub fn write_atomic_mode(path: &std::path::Path, bytes: &[u8], mode: u32) -> Result<(), OsError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let what = || format!("saving {}", path.display());
    let tmp = path.with_extension("new");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .os(what)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .os(what)?;
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

    /// Forget the calls so far: a test's set-up is not what it asserts.
    pub fn clear(&self) {
        self.0.lock().expect("recorder lock").clear();
    }
}

/// Save a JSON state file (mode 0600, atomically): what `read_state` reads back.
pub fn write_state<T: serde::Serialize + ?Sized>(
    path: &std::path::Path,
    value: &T,
) -> Result<(), OsError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| OsError::new(format!("encoding {}", path.display()), e))?;
    write_atomic(path, &bytes)
}

/// Write `text` to `path` (making its directory) unless it already holds exactly that;
/// true when it changed. For generated files a reader reloads on change (drop-ins).
pub fn write_if_changed(path: &std::path::Path, text: &str, mode: u32) -> Result<bool, OsError> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).os(|| format!("writing {}", path.display()))?;
    }
    write_atomic_mode(path, text.as_bytes(), mode)?;
    Ok(true)
}

/// A JSON state file: None when it does not exist yet. A file that cannot be read or parsed
/// is an error naming it and `what_to_do` — never silently empty: an empty grants ledger
/// would forget which ACL entries townhall made, an empty key history would stop old commits
/// from verifying.
pub fn read_state<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what_to_do: &str,
) -> Result<Option<T>, OsError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(OsError::new(format!("reading {}", path.display()), e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        OsError::new(
            format!("reading {}", path.display()),
            format!("it is not what townhall wrote ({e})\n  help: {what_to_do}"),
        )
    })
}

/// A size in binary units, as the config writes them (`max_size = "10K"` is 10 KiB).
pub fn size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

/// Raise the open-files soft limit to the hard limit: each resident's Matrix stores and
/// connections hold a score of descriptors, and 1024 runs out before fifty residents.
pub fn raise_nofile() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                tracing::warn!(
                    "could not raise the open-files limit: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
    }
}
