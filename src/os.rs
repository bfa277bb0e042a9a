//! Root's own OS helpers: acting as a resident from a forked child, idle priority for
//! background work, helpers with a time limit. The shared ones (the error type, state
//! files) are townhall-os's, re-exported here so root names them all `crate::os`.

pub use townhall_os::*;

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

/// Run `cmd` and return its stdout, killing it when it takes longer than `within`. For
/// helpers run as a resident: they may be made to hang.
pub fn output_within(
    cmd: &mut std::process::Command,
    within: std::time::Duration,
) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn()?;
    let mut out = child.stdout.take().expect("piped");
    let (sent, read) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut out).take(1 << 20).read_to_end(&mut buf);
        let _ = sent.send(buf);
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
    // The child's stdout may be held open by another of the resident's processes (the
    // helper runs as the resident, who may reach its descriptors): what came within the
    // limit is the answer, and the reader is left to end by itself.
    let left = within.saturating_sub(start.elapsed()) + std::time::Duration::from_secs(1);
    let Ok(out) = read.recv_timeout(left) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("its output did not end within {within:?}"),
        ));
    };
    if status.success() {
        Ok(out)
    } else {
        Err(std::io::Error::other(format!("it failed ({status})")))
    }
}
