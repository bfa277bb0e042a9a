//! Ending what a resident still has open on a device once its grant is gone. Removing an
//! ACL entry only stops new opens: a descriptor opened during a lease would go on reading
//! and writing, and the next holder would share the port with it. So a terminal is hung up
//! (`TIOCVHANGUP`: every descriptor of it reads end-of-file and fails to write from then on;
//! whoever still holds a grant opens it again, and a `!tail` does so by itself). A hangup
//! drops DTR, as closing the port would: a board that resets on DTR resets. Any other
//! device cannot be hung up: the old holder's processes that keep its node open are ended,
//! found by `townhall holders` running as that holder in a unit of its own with a time
//! limit (root keeps neither `CAP_SYS_PTRACE`, to read another uid's descriptors, nor
//! `CAP_KILL`). A process the holder made non-dumpable hides its descriptors from that
//! search; docs/security.md says so.

use std::os::fd::AsRawFd;
use std::path::Path;

use nix::fcntl::{OFlag, open};
use nix::sys::stat::{FileStat, Mode, SFlag, stat};

use crate::os::{OsContext, OsError};

nix::ioctl_none_bad!(tiocvhangup, libc::TIOCVHANGUP);

/// How it was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    HungUp,
    /// This many processes that held it open were ended.
    Ended(u32),
}

/// Whether `o` is the same device node (or, for a plain file, the same inode) as `st`.
fn same(st: &FileStat, o: &FileStat) -> bool {
    let kind = |m: u32| m & SFlag::S_IFMT.bits();
    let device = matches!(
        SFlag::from_bits_truncate(kind(st.st_mode)),
        SFlag::S_IFCHR | SFlag::S_IFBLK
    );
    if device {
        kind(o.st_mode) == kind(st.st_mode) && o.st_rdev == st.st_rdev
    } else {
        o.st_dev == st.st_dev && o.st_ino == st.st_ino
    }
}

/// The calling uid's processes (but this one) that hold `path` open. Run as the uid
/// (`townhall holders`): only a process's own uid may read its descriptors, and root keeps
/// no `CAP_SYS_PTRACE`.
pub fn my_holders(path: &Path) -> Result<Vec<i32>, OsError> {
    let st = stat(path).os(|| format!("looking at {}", path.display()))?;
    let me = nix::unistd::getuid().as_raw();
    let this = std::process::id() as i32;
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Ok(vec![]);
    };
    Ok(procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != this)
        .filter(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let mine = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .is_some_and(|u| {
                    u.split_whitespace().next().and_then(|x| x.parse().ok()) == Some(me)
                });
            mine && std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| stat(&fd.path()).is_ok_and(|o| same(&st, &o)))
            })
        })
        .collect())
}

/// `townhall holders PATH [--kill]` as `uid`, in a unit of its own: the pids it reports
/// (and, with `kill`, ended).
fn holders_as(uid: u32, path: &Path, kill: bool) -> Result<Vec<i32>, OsError> {
    let what = || format!("finding what uid {uid} holds open on {}", path.display());
    let exe = std::env::current_exe().os(what)?;
    let mut cmd = crate::units::helper::as_resident(
        uid,
        uid,
        Path::new("/"),
        &[],
        0o077,
        HELPER_WITHIN,
        &exe.display().to_string(),
    );
    cmd.arg("holders").arg(path);
    if kill {
        cmd.arg("--kill");
    }
    cmd.stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let out = crate::os::output_within(&mut cmd, HELPER_WITHIN + std::time::Duration::from_secs(5))
        .os(what)?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

/// How long the helper that looks as a resident may take.
const HELPER_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether `st` is a terminal, from sysfs (opening a serial port to ask would raise DTR).
fn is_tty(st: &FileStat) -> bool {
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFCHR {
        return false;
    }
    let (major, minor) = (
        nix::sys::stat::major(st.st_rdev),
        nix::sys::stat::minor(st.st_rdev),
    );
    std::fs::read_link(format!("/sys/dev/char/{major}:{minor}/subsystem"))
        .is_ok_and(|l| l.file_name().is_some_and(|n| n == "tty"))
}

/// Cut `uid` off `path`: hang a terminal up, else end the uid's processes holding it open.
pub fn cut_off(path: &Path, uid: u32) -> Result<Cut, OsError> {
    let what = || format!("cutting uid {uid} off {}", path.display());
    let st = stat(path).os(what)?;
    if is_tty(&st) {
        match open(
            path,
            OFlag::O_RDONLY | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            // SAFETY: TIOCVHANGUP takes no argument; fd is an open terminal.
            Ok(fd) => match unsafe { tiocvhangup(fd.as_raw_fd()) } {
                Ok(_) => return Ok(Cut::HungUp),
                Err(e) => tracing::warn!(
                    "{}: hanging up failed ({e}): ending the processes that hold it",
                    what()
                ),
            },
            Err(e) => tracing::warn!(
                "{}: opening it to hang up failed ({e}): ending the processes that hold it",
                what()
            ),
        }
    }
    let ended = holders_as(uid, path, true)?;
    Ok(Cut::Ended(ended.len() as u32))
}
