//! receive-pack as a unit of its own. `systemd-run` starts stock `git receive-pack` as the
//! remote's user in `townhall-git.slice`, with a memory, task and time limit of its own
//! (`[push] time`), writing to the pusher's stdout and stderr. Its stdin comes through a
//! relay here that counts the bytes (`[push] max_size`, beside git's own
//! receive.maxInputSize) and the time without any (`[push] idle`), so a push that is too
//! big, too slow or abandoned is ended: its unit is killed with everything it started,
//! the pusher is told why, and what git had received is removed (leftovers.rs).

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, poll};

use crate::config::Town;

/// The slice every push's unit runs in (dist/townhall-git.slice holds them together).
pub const SLICE: &str = "townhall-git.slice";
/// Memory and tasks one push's unit may use.
const MEMORY_MAX: &str = "1G";
const TASKS_MAX: &str = "64";
/// What the relay holds at most between the pusher and receive-pack.
const BUFFER: usize = 64 << 10;
/// Commands and capabilities come before the pack: allowed beyond max_size.
const SLACK: u64 = 1 << 20;

/// Pushes running now, per repository, with when each began: a failed push may remove
/// only what no running push could have made.
#[derive(Default)]
pub struct Running {
    starts: Mutex<HashMap<String, Vec<(u64, SystemTime)>>>,
    next: std::sync::atomic::AtomicU64,
}

/// A push counted as running until dropped, whatever way its thread leaves.
struct Counted<'a> {
    running: &'a Running,
    repo: String,
    id: u64,
}

impl Running {
    fn begin(&self, repo: &str) -> Counted<'_> {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.starts
            .lock()
            .expect("lock")
            .entry(repo.into())
            .or_default()
            .push((id, SystemTime::now()));
        Counted {
            running: self,
            repo: repo.into(),
            id,
        }
    }

    /// When the oldest push still running on `repo` began, but `but` (None: none runs).
    fn oldest(&self, repo: &str, but: u64) -> Option<SystemTime> {
        let starts = self.starts.lock().expect("lock");
        starts
            .get(repo)?
            .iter()
            .filter(|(i, _)| *i != but)
            .map(|(_, t)| *t)
            .min()
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        if let Some(list) = self
            .running
            .starts
            .lock()
            .expect("lock")
            .get_mut(&self.repo)
        {
            list.retain(|(i, _)| *i != self.id);
        }
    }
}

/// Tell the pusher on its stderr, unless that would block (a pipe nobody reads): the
/// descriptor is the pusher's, so it may never hold a thread of root's.
pub fn say(stderr: &OwnedFd, text: &str) {
    let mut fds = [PollFd::new(stderr.as_fd(), PollFlags::POLLOUT)];
    if matches!(poll(&mut fds, 1000u16), Ok(1)) {
        // Short enough for one write to a pipe with room (PIPE_BUF).
        let line = format!("townhall: {text}\n");
        let _ = nix::unistd::write(stderr, &line.as_bytes()[..line.len().min(4000)]);
    }
}

/// Why the relay ended a push.
enum Ended {
    TooBig,
    Idle,
    TooLong,
}

/// Run receive-pack for `pusher` on `repo` with the pusher's three descriptors; its exit
/// code (1 when the relay ended it).
pub fn receive_pack(
    town: &Town,
    pusher: &str,
    repo: &str,
    running: &Running,
    fds: [OwnedFd; 3],
) -> std::io::Result<u8> {
    let [stdin, stdout, stderr] = fds;
    let limits = &town.push;
    let unit = crate::units::helper::unit_name(&format!("townhall-push-{pusher}"));
    let path = super::repo_path(repo);
    let (unit_in, relay_out) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    fcntl(&relay_out, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    // The pusher's stdin is read only after poll says so, but it may drain it between the
    // two: non-blocking, a read never holds the relay (the pusher's client never reads it).
    let flags = OFlag::from_bits_truncate(fcntl(&stdin, FcntlArg::F_GETFL)?);
    fcntl(&stdin, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    let properties = [
        "UMask=0022".to_string(),
        format!("RuntimeMaxSec={}", limits.time.as_secs().max(1)),
        format!("MemoryMax={MEMORY_MAX}"),
        format!("TasksMax={TASKS_MAX}"),
        "NoNewPrivileges=yes".into(),
        "PrivateTmp=yes".into(),
        "PrivateDevices=yes".into(),
        "PrivateNetwork=yes".into(),
        "ProtectSystem=strict".into(),
        format!("ReadWritePaths={}", path.display()),
        "ProtectHome=yes".into(),
        "KillMode=control-group".into(),
    ];
    let description = format!("townhall: a push by {pusher} to {repo}");
    let mut cmd = crate::units::helper::transient(&unit, SLICE, &description, &properties);
    cmd.arg(format!("--uid={}", super::GIT_USER))
        .arg(format!("--gid={}", super::GIT_USER));
    for (k, v) in [
        ("TOWNHALL_PUSHER", pusher),
        ("HOME", "/nonexistent"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ] {
        cmd.arg(format!("--setenv={k}={v}"));
    }
    cmd.arg(format!("--setenv=TOWNHALL_CONFIG={}", town.dir.display()));
    cmd.args(["--", "git", "-c"])
        .arg(format!("receive.maxInputSize={}", limits.max_size))
        .arg("receive-pack")
        .arg(&path);
    let counted = running.begin(repo);
    let child = cmd
        .stdin(Stdio::from(unit_in))
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr.try_clone()?))
        .spawn();
    let result = match child {
        Ok(mut child) => {
            let ended = relay(&stdin, relay_out, &mut child, limits);
            if ended.is_some() {
                kill(&unit);
            }
            let status = child.wait()?;
            let code = match ended {
                Some(why) => {
                    let why = match why {
                        Ended::TooBig => format!(
                            "the push is over the {} a push may be ([push] max_size): ended",
                            crate::os::size(limits.max_size)
                        ),
                        Ended::Idle => format!(
                            "the push sent nothing for {} ([push] idle): ended",
                            humantime::format_duration(limits.idle)
                        ),
                        Ended::TooLong => format!(
                            "the push took over {} ([push] time): ended",
                            humantime::format_duration(limits.time)
                        ),
                    };
                    say(&stderr, &why);
                    tracing::warn!(%pusher, %repo, "{why}");
                    1
                }
                None => status.code().unwrap_or(1).clamp(0, 255) as u8,
            };
            Ok(code)
        }
        Err(e) => Err(e),
    };
    let oldest = running.oldest(repo, counted.id);
    drop(counted);
    if !matches!(result, Ok(0)) {
        match super::leftovers::remove(&path, oldest) {
            Ok(0) => {}
            Ok(n) => tracing::info!(%repo, "removed {n} quarantine(s) of failed pushes"),
            Err(e) => tracing::warn!(%repo, "{e}"),
        }
    }
    result
}

/// End a push's unit and everything in it.
fn kill(unit: &str) {
    let r = Command::new("systemctl")
        .args(["kill", "--signal=SIGKILL", unit])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !r.is_ok_and(|s| s.success()) {
        tracing::warn!("could not kill {unit}");
    }
}

/// Copy the pusher's stdin to receive-pack until it ends, the pusher stops, or a limit is
/// passed (returned).
fn relay(
    from: &OwnedFd,
    to: OwnedFd,
    child: &mut std::process::Child,
    limits: &crate::config::PushLimits,
) -> Option<Ended> {
    let start = Instant::now();
    let mut last = start;
    let mut to = Some(to);
    let mut buf: Vec<u8> = Vec::with_capacity(BUFFER);
    let (mut total, mut eof) = (0u64, false);
    let mut chunk = vec![0u8; BUFFER];
    loop {
        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
            return None;
        }
        if total > limits.max_size + SLACK {
            return Some(Ended::TooBig);
        }
        // After the pack, the pusher waits for the report: the time limit holds then.
        if !eof && last.elapsed() > limits.idle {
            return Some(Ended::Idle);
        }
        if start.elapsed() > limits.time {
            return Some(Ended::TooLong);
        }
        if eof && buf.is_empty() {
            to = None; // receive-pack sees the end of its input
        }
        let (mut fds, mut which) = (Vec::new(), Vec::new());
        if !eof && buf.len() < BUFFER {
            fds.push(PollFd::new(from.as_fd(), PollFlags::POLLIN));
            which.push(0);
        }
        if let Some(t) = &to
            && !buf.is_empty()
        {
            fds.push(PollFd::new(t.as_fd(), PollFlags::POLLOUT));
            which.push(1);
        }
        match poll(&mut fds, 200u16) {
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return None,
        }
        let ready: Vec<(i32, PollFlags)> = fds
            .iter()
            .zip(&which)
            .map(|(f, w)| (*w, f.revents().unwrap_or(PollFlags::empty())))
            .collect();
        drop(fds);
        for (w, ev) in ready {
            if ev.is_empty() {
                continue;
            }
            if w == 0 {
                let room = BUFFER - buf.len();
                match nix::unistd::read(from, &mut chunk[..room]) {
                    Ok(0) => eof = true,
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        total += n as u64;
                        last = Instant::now();
                    }
                    Err(Errno::EAGAIN | Errno::EINTR) => {}
                    Err(_) => eof = true,
                }
            } else if let Some(t) = &to {
                match nix::unistd::write(t, &buf) {
                    Ok(n) => {
                        buf.drain(..n);
                        last = Instant::now();
                    }
                    Err(Errno::EAGAIN | Errno::EINTR) => {}
                    // receive-pack stopped reading: it ends on its own, and the loop sees it.
                    Err(_) => {
                        to = None;
                        buf.clear();
                        eof = true;
                    }
                }
            }
        }
    }
}
