//! The real levelling: logind and PID 1 over the system bus, signals and IPC through the
//! kernel. Every bus call has a timeout, so a reset at boot (no bus yet) or against a
//! wedged logind still goes on to kill and sweep.

use std::path::Path;
use std::time::Duration;

use crate::os::{OsContext, OsError};

use super::{Presence, Survivor};

/// How long one call to logind or PID 1 may take.
const BUS_TIMEOUT: Duration = Duration::from_secs(5);
/// How long processes get to disappear after SIGKILL before they are reported.
const KILL_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, Default)]
pub struct HostPresence;

/// Run a future on a runtime of its own, on a thread of its own: callable from the CLI and
/// from the daemon's blocking pool alike.
fn block<T: Send>(f: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(f)
        })
        .join()
        .expect("the levelling thread panicked")
    })
}

async fn timed<T, E: std::fmt::Display>(
    what: &str,
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(BUS_TIMEOUT, f).await {
        Ok(r) => r.map_err(|e| format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {BUS_TIMEOUT:?}")),
    }
}

/// Run `f` in a forked child with all of `uid`'s ids; returns its exit code. A child, not
/// a thread: the resident may signal a task with its uid, and a thread of the supervisor
/// with that uid would let it kill the supervisor.
fn in_child_as(uid: u32, f: fn() -> i32) -> std::io::Result<i32> {
    // SAFETY: `f` (below) makes only raw syscalls.
    let pid = unsafe { crate::os::fork_as(uid, f) }?;
    crate::os::wait_child(pid)
}

/// As the uid: kill(-1) reaches every process it may signal (all of its own, however they
/// forked), never the caller. A few rounds catch children forked during a round; what is
/// left after that is found in /proc by the parent. (Its return value cannot end the loop:
/// zombies waiting for their parent still count as signalled.)
fn kill_everything_i_may() -> i32 {
    for _ in 0..5 {
        // SAFETY: raw syscalls with integer arguments.
        unsafe {
            libc::kill(-1, libc::SIGKILL);
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: 10_000_000,
            };
            libc::nanosleep(&pause, std::ptr::null_mut());
        }
    }
    0
}

/// As the uid: clear its user, user-session and persistent keyrings; bit flags of failures.
fn clear_my_keyrings() -> i32 {
    const KEYCTL_CLEAR: libc::c_long = 7;
    const KEYCTL_GET_PERSISTENT: libc::c_long = 22;
    // SAFETY: keyctl(2) with integer arguments only.
    let keyctl = |op: libc::c_long, a: libc::c_long, b: libc::c_long| unsafe {
        libc::syscall(libc::SYS_keyctl, op, a, b)
    };
    // No keyrings at all (a kernel without them, or a seccomp filter such as
    // systemd-nspawn's that refuses the calls) is nothing to clear, not a failure.
    // SAFETY: reading this thread's errno.
    let real_failure = || {
        !matches!(
            unsafe { *libc::__errno_location() },
            libc::ENOSYS | libc::EOPNOTSUPP | libc::EPERM | libc::ENOKEY
        )
    };
    let mut failed = 0;
    // KEY_SPEC_USER_KEYRING (-4), KEY_SPEC_USER_SESSION_KEYRING (-5)
    for (bit, ring) in [(1, -4), (2, -5)] {
        if keyctl(KEYCTL_CLEAR, ring, 0) != 0 && real_failure() {
            failed |= bit;
        }
    }
    // The persistent keyring, linked into a thread keyring (-1) that dies with the child.
    let p = keyctl(KEYCTL_GET_PERSISTENT, -1, -1);
    if p > 0 && keyctl(KEYCTL_CLEAR, p as libc::c_long, 0) != 0 && real_failure() {
        failed |= 4;
    }
    failed
}

/// Processes whose real, effective, saved or filesystem uid is `uid` (zombies excluded).
fn processes_of(uid: u32) -> Vec<Survivor> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    let me = std::process::id();
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let field = |k: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(str::trim)
                    .unwrap_or("")
                    .to_string()
            };
            let ours = field("Uid:")
                .split_whitespace()
                .any(|u| u.parse() == Ok(uid));
            let state = field("State:");
            (ours && !state.starts_with('Z')).then(|| Survivor {
                pid,
                state,
                command: field("Name:"),
            })
        })
        .collect()
}

/// Rows of /proc/sysvipc/{shm,msg,sem} the uid owns or created: (kind, id).
fn ipc_of(uid: u32) -> Vec<(&'static str, i32)> {
    let mut out = Vec::new();
    for (kind, id_col) in [("shm", "shmid"), ("msg", "msqid"), ("sem", "semid")] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/sysvipc/{kind}")) else {
            continue;
        };
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
        let col = |name: &str| header.iter().position(|h| *h == name);
        let (Some(id), Some(u), Some(cu)) = (col(id_col), col("uid"), col("cuid")) else {
            continue;
        };
        for l in lines {
            let f: Vec<&str> = l.split_whitespace().collect();
            let is = |i: usize| f.get(i).and_then(|v| v.parse::<u32>().ok()) == Some(uid);
            if (is(u) || is(cu))
                && let Some(n) = f.get(id).and_then(|v| v.parse().ok())
            {
                out.push((kind, n));
            }
        }
    }
    out
}

impl Presence for HostPresence {
    fn end_sessions(&self, uid: u32) -> Result<(), OsError> {
        let what = || format!("ending the sessions and user manager of uid {uid}");
        // Nothing to end (as at boot, where this runs before logind and maybe before D-Bus):
        // skip the bus rather than wait for services ordered after the reset.
        let known = Path::new(&format!("/run/systemd/users/{uid}")).exists()
            || Path::new(&format!("/run/user/{uid}")).exists();
        if !known && processes_of(uid).is_empty() {
            return Ok(());
        }
        let problems = block(async move {
            let mut problems = Vec::new();
            let conn = match timed("connecting to the system bus", zbus::Connection::system()).await
            {
                Ok(c) => c,
                Err(e) => return vec![e],
            };
            if let Ok(login) = timed("logind", zbus_systemd::login1::ManagerProxy::new(&conn)).await
            {
                // No linger first, so logind does not start the manager again.
                if let Err(e) =
                    timed("SetUserLinger", login.set_user_linger(uid, false, false)).await
                {
                    problems.push(e);
                }
                match timed("TerminateUser", login.terminate_user(uid)).await {
                    Err(e) if !e.contains("NoSuchUser") && !e.contains("not logged in") => {
                        problems.push(e)
                    }
                    _ => {}
                }
            }
            if let Ok(pid1) = timed("PID 1", zbus_systemd::systemd1::ManagerProxy::new(&conn)).await
            {
                for unit in [format!("user@{uid}.service"), format!("user-{uid}.slice")] {
                    // KillUnit first: a manager wedged by its resident still dies; then stop.
                    let _ = timed(
                        "KillUnit",
                        pid1.kill_unit(unit.clone(), "all".into(), libc::SIGKILL),
                    )
                    .await;
                    match timed("StopUnit", pid1.stop_unit(unit.clone(), "replace".into())).await {
                        Err(e) if !e.contains("NoSuchUnit") && !e.contains("not loaded") => {
                            problems.push(e)
                        }
                        _ => {}
                    }
                }
            }
            problems
        });
        if problems.is_empty() {
            Ok(())
        } else {
            Err(OsError::new(what(), problems.join("; ")))
        }
    }

    fn count(&self, uid: u32) -> Result<u32, OsError> {
        Ok(processes_of(uid).len() as u32)
    }

    fn kill_all(&self, uid: u32) -> Result<Vec<Survivor>, OsError> {
        let what = || format!("killing the processes of uid {uid}");
        if uid == 0 {
            return Err(OsError::new(what(), "refusing to kill root's processes"));
        }
        // Twice: a child the resident manages to kill first is simply started again.
        for _ in 0..2 {
            in_child_as(uid, kill_everything_i_may).os(what)?;
        }
        let deadline = std::time::Instant::now() + KILL_GRACE;
        loop {
            let left = processes_of(uid);
            if left.is_empty() || std::time::Instant::now() > deadline {
                return Ok(left);
            }
            for p in &left {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p.pid as i32),
                    nix::sys::signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn remove_ipc(&self, uid: u32) -> Result<u32, OsError> {
        let mut removed = 0;
        let mut failed = Vec::new();
        for (kind, id) in ipc_of(uid) {
            // SAFETY: IPC_RMID with a null buffer is valid for all three kinds.
            let rc = unsafe {
                match kind {
                    "shm" => libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()),
                    "msg" => libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()),
                    _ => libc::semctl(id, 0, libc::IPC_RMID),
                }
            };
            if rc == 0 {
                removed += 1
            } else {
                failed.push(format!("{kind} {id}: {}", std::io::Error::last_os_error()))
            }
        }
        if failed.is_empty() {
            Ok(removed)
        } else {
            Err(OsError::new(
                format!("removing the IPC objects of uid {uid}"),
                failed.join(", "),
            ))
        }
    }

    fn clear_keyrings(&self, uid: u32) -> Result<(), OsError> {
        let what = || format!("clearing the keyrings of uid {uid}");
        match in_child_as(uid, clear_my_keyrings).os(what)? {
            0 => Ok(()),
            f => Err(OsError::new(
                what(),
                format!("keyctl failed (flags {f}: 1 user, 2 user-session, 4 persistent)"),
            )),
        }
    }

    fn clear_journal(&self, uid: u32) -> Result<u32, OsError> {
        super::journal::clear(uid)
    }

    fn confine(&self, residents: &[(u32, crate::config::Limits)]) -> Result<(), OsError> {
        if !super::write_dropins(residents)? {
            return Ok(());
        }
        reload_pid1(&[])
    }

    fn sweep(&self, uid: u32, dir: &Path) -> Result<u64, OsError> {
        if uid == 0 {
            return Err(OsError::new(
                format!("sweeping {}", dir.display()),
                "refusing to remove root's files",
            ));
        }
        super::sweep_owned(uid, dir)
    }
}

/// PID 1 reads a unit's drop-ins when it loads it: reload (then restart `restart` where it
/// runs), unless there is no bus yet (early boot), when the files are read at each start.
pub fn reload_pid1(restart: &[&str]) -> Result<(), OsError> {
    tell_pid1(&Pid1 {
        daemon_reload: true,
        restart,
        ..Default::default()
    })
}

/// SIGHUP to the main process of `units` where they run, as after a config change.
pub fn reload_units(units: &[&str]) -> Result<(), OsError> {
    tell_pid1(&Pid1 {
        reload: units,
        ..Default::default()
    })
}

/// Stop `stop`, reload PID 1 when `daemon_reload` (unit files changed), then start `start`
/// (a unit already running is left as it is): for the schedules' timers.
pub fn restart_timers(stop: &[&str], daemon_reload: bool, start: &[&str]) -> Result<(), OsError> {
    tell_pid1(&Pid1 {
        stop,
        daemon_reload,
        start,
        ..Default::default()
    })
}

/// What PID 1 is told, in this order: stop, reload, restart, SIGHUP, start.
#[derive(Default)]
struct Pid1<'a> {
    stop: &'a [&'a str],
    daemon_reload: bool,
    restart: &'a [&'a str],
    reload: &'a [&'a str],
    start: &'a [&'a str],
}

fn tell_pid1(job: &Pid1) -> Result<(), OsError> {
    let r: Result<(), String> = block(async {
        let conn = timed("connecting to the system bus", zbus::Connection::system()).await?;
        let pid1 = timed("PID 1", zbus_systemd::systemd1::ManagerProxy::new(&conn)).await?;
        for unit in job.stop {
            timed(
                &format!("stopping {unit}"),
                pid1.stop_unit(unit.to_string(), "replace".into()),
            )
            .await?;
        }
        if job.daemon_reload {
            tokio::time::timeout(Duration::from_secs(60), pid1.reload())
                .await
                .map_err(|_| "Reload: no answer in 60 s".to_string())?
                .map_err(|e| format!("Reload: {e}"))?;
        }
        for unit in job.restart {
            timed(
                &format!("restarting {unit}"),
                pid1.try_restart_unit(unit.to_string(), "replace".into()),
            )
            .await?;
        }
        for unit in job.reload {
            timed(
                &format!("sending {unit} SIGHUP"),
                pid1.kill_unit(unit.to_string(), "main".into(), libc::SIGHUP),
            )
            .await?;
        }
        for unit in job.start {
            timed(
                &format!("starting {unit}"),
                pid1.start_unit(unit.to_string(), "replace".into()),
            )
            .await?;
        }
        Ok(())
    });
    match r {
        Err(e) if e.starts_with("connecting") => Ok(()),
        r => r.map_err(|e| OsError::new("telling PID 1 of townhall's units", e)),
    }
}
