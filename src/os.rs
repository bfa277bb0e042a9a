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
}

/// Fork a child that takes all of `uid`'s ids (no supplementary groups) and exits with what
/// `child` returns (125 when the ids could not be set); returns its pid. For acting as a
/// resident without any thread of the supervisor ever having the resident's ids (the
/// resident may signal such a task).
///
/// # Safety
/// The parent is multi-threaded: `child` may only make async-signal-safe calls (raw
/// syscalls on memory prepared before the fork), no allocation, no locks.
pub unsafe fn fork_as(uid: u32, child: impl FnOnce() -> i32) -> std::io::Result<libc::pid_t> {
    // SAFETY: see the function's contract; the child never returns from here.
    unsafe {
        match libc::fork() {
            -1 => Err(std::io::Error::last_os_error()),
            0 => {
                let id = uid as libc::c_long;
                if libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) != 0
                    || libc::syscall(libc::SYS_setresgid, id, id, id) != 0
                    || libc::syscall(libc::SYS_setresuid, id, id, id) != 0
                {
                    libc::_exit(125);
                }
                libc::_exit(child())
            }
            pid => Ok(pid),
        }
    }
}

/// Wait for a child of `fork_as`: its exit status, or 128 + the signal that ended it.
pub fn wait_child(pid: libc::pid_t) -> std::io::Result<i32> {
    loop {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
            return Ok(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            });
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
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

/// Run the calling thread at the lowest CPU and I/O priority (nice 19, the idle I/O class):
/// for work that must not slow the residents' turns, like deleting old rounds.
pub fn lower_priority() {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    const IOPRIO_CLASS_IDLE: libc::c_long = 3;
    // SAFETY: plain syscalls about the calling thread, with integer arguments.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            tid as libc::c_long,
            IOPRIO_CLASS_IDLE << 13,
        );
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

/// Run `cmd` and return its stdout, killing it when it takes longer than `within`. For
/// helpers run as a resident: they may be made to hang.
pub fn output_within(
    cmd: &mut std::process::Command,
    within: std::time::Duration,
) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn()?;
    let mut out = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut out).take(1 << 20).read_to_end(&mut buf);
        buf
    });
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() > within {
            // A child running as a resident may not be ours to kill (no CAP_KILL): it is
            // reaped on a thread of its own, never waited for here.
            let _ = child.kill();
            let _ = std::thread::Builder::new()
                .name("reaper".into())
                .spawn(move || child.wait());
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {within:?}"),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let out = reader.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        Err(std::io::Error::other(format!("it failed ({status})")))
    }
}
