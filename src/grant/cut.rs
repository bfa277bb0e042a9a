//! Ending what a resident still has open on a device once its grant is gone. Removing an
//! ACL entry only stops new opens: a descriptor opened during a lease would go on reading
//! and writing, and the next holder would share the port with it. So a terminal is hung up
//! (`TIOCVHANGUP`: every descriptor of it reads end-of-file and fails to write from then on)
//! unless another holder has it open (a hangup would cut them off too); otherwise, and for
//! any other device, the processes of the old holder that keep the node open are ended.
//! Both are found by `townhall holders` running as that holder: root keeps neither
//! `CAP_SYS_PTRACE` (to read another uid's descriptors) nor `CAP_KILL`.

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
    let device = matches!(SFlag::from_bits_truncate(kind(st.st_mode)), SFlag::S_IFCHR | SFlag::S_IFBLK);
    if device { kind(o.st_mode) == kind(st.st_mode) && o.st_rdev == st.st_rdev } else { o.st_dev == st.st_dev && o.st_ino == st.st_ino }
}

/// The calling uid's processes (but this one) that hold `path` open. Run as the uid
/// (`townhall holders`): only a process's own uid may read its descriptors, and root keeps
/// no `CAP_SYS_PTRACE`.
pub fn my_holders(path: &Path) -> Result<Vec<i32>, OsError> {
    let st = stat(path).os(|| format!("looking at {}", path.display()))?;
    let me = nix::unistd::getuid().as_raw();
    let this = std::process::id() as i32;
    let Ok(procs) = std::fs::read_dir("/proc") else { return Ok(vec![]) };
    Ok(procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != this)
        .filter(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let mine = status.lines().find_map(|l| l.strip_prefix("Uid:")).is_some_and(|u| u.split_whitespace().next().and_then(|x| x.parse().ok()) == Some(me));
            mine && std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| fds.flatten().any(|fd| stat(&fd.path()).is_ok_and(|o| same(&st, &o))))
        })
        .collect())
}

/// `townhall holders PATH [--kill]` as `uid`: the pids it reports (and, with `kill`, ended).
fn holders_as(uid: u32, path: &Path, kill: bool) -> Result<Vec<i32>, OsError> {
    use std::os::unix::process::CommandExt;
    let what = || format!("finding what uid {uid} holds open on {}", path.display());
    let exe = std::env::current_exe().os(what)?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("holders").arg(path);
    if kill {
        cmd.arg("--kill");
    }
    cmd.env_clear().current_dir("/").uid(uid).gid(uid).stdin(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let out = crate::os::output_within(&mut cmd, HELPER_WITHIN).os(what)?;
    Ok(String::from_utf8_lossy(&out).lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// How long the helper that looks as a resident may take.
const HELPER_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Cut `uid` off `path`: hang the terminal up unless one of `others` (who still hold
/// grants on it) has it open, else end the uid's processes that hold it open.
pub fn cut_off(path: &Path, uid: u32, others: &[u32]) -> Result<Cut, OsError> {
    let what = || format!("cutting uid {uid} off {}", path.display());
    let st = stat(path).os(what)?;
    let is_char = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFCHR;
    let others_hold = others.iter().any(|o| holders_as(*o, path, false).map_or(true, |p| !p.is_empty()));
    if is_char && !others_hold {
        let fd = open(path, OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty()).os(what)?;
        if nix::sys::termios::tcgetattr(&fd).is_ok() {
            // SAFETY: TIOCVHANGUP takes no argument; fd is an open terminal.
            match unsafe { tiocvhangup(fd.as_raw_fd()) } {
                Ok(_) => return Ok(Cut::HungUp),
                Err(e) => tracing::warn!("{}: hanging up failed ({e}): ending the processes that hold it", what()),
            }
        }
    }
    let ended = holders_as(uid, path, true)?;
    Ok(Cut::Ended(ended.len() as u32))
}
