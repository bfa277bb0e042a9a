//! The push pipe. `git push town …` runs `townhall push PATH` as the resident; that client
//! hands its stdin, stdout and stderr to the daemon over /run/townhall-push.sock
//! (SCM_RIGHTS) with the repository's name. The daemon knows the pusher from SO_PEERCRED,
//! checks the repository lets it push, and runs stock `git receive-pack` as the remote's
//! user on those descriptors, with townhall's hook deciding (receive.rs); the exit status
//! goes back. A resident runs at most `[push] at_once` pushes; more are refused at once,
//! so no resident holds more of root's threads or sockets than that.

use std::io::{IoSlice, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

use crate::config::Town;
use townhall_wire::admit::{Slots, next_blocking};

/// The client: `townhall push PATH`, run by git as the resident. Returns receive-pack's
/// exit code; a refusal the daemon sends before receive-pack runs is printed.
pub fn push_client(path: &Path) -> std::io::Result<i32> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.trim_end_matches(".git").trim_end_matches('/'))
        .unwrap_or("");
    let mut s = UnixStream::connect(super::pipe_socket())?;
    let fds: [RawFd; 3] = [0, 1, 2];
    let line = format!("{name}\n");
    sendmsg::<()>(
        s.as_raw_fd(),
        &[IoSlice::new(line.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )?;
    let mut status = [0u8; 1];
    s.read_exact(&mut status)?;
    let mut why = String::new();
    let _ = s.take(4096).read_to_string(&mut why);
    if !why.trim().is_empty() {
        eprintln!("townhall: {}", why.trim());
    }
    Ok(i32::from(status[0]))
}

/// The daemon's side.
pub struct Pipe {
    listener: UnixListener,
}

type Pushed = dyn Fn(&str, Vec<crate::hall::Notice>) + Send + Sync;

/// What one push acts through: the town as it is now, the remote's git, the pushes
/// running, and where its notices go.
struct Push<'a, R> {
    town: &'a Town,
    remote: &'a R,
    running: &'a super::receive::Running,
    pushed: &'a Pushed,
}

impl Pipe {
    pub fn bind() -> std::io::Result<Self> {
        let path = super::pipe_socket();
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        use std::os::unix::fs::PermissionsExt;
        // Every resident may connect; who it is comes from SO_PEERCRED, not the socket mode.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))?;
        Ok(Self { listener })
    }

    /// Serve pushes for ever (blocking: run on a thread of its own); `town` is re-read for
    /// each push so reloads apply. `remote` lends the remote's git from `owner` (the
    /// daemon's machine). Accept errors are retried, never the end of the pipe.
    pub fn serve<O, R>(
        self,
        owner: Arc<O>,
        remote: fn(&O) -> &R,
        town: impl Fn() -> Arc<Town> + Send + Sync + 'static,
        pushed: impl Fn(&str, Vec<crate::hall::Notice>) + Send + Sync + 'static,
    ) -> !
    where
        O: Send + Sync + 'static,
        R: super::TownRemote + 'static,
    {
        let town = Arc::new(town);
        let pushed: Arc<Pushed> = Arc::new(pushed);
        let slots = Arc::new(Slots::default());
        let running = Arc::new(super::receive::Running::default());
        loop {
            let mut conn = next_blocking(&self.listener, "the push pipe");
            let Ok(uid) =
                nix::sys::socket::getsockopt(&conn, nix::sys::socket::sockopt::PeerCredentials)
                    .map(|c| c.uid())
            else {
                continue;
            };
            let t = town();
            let at_once = if t.residents.iter().any(|r| r.uid == uid) {
                t.push.at_once as usize
            } else {
                1
            };
            let Some(slot) = slots.take(uid, at_once, "the push pipe") else {
                // Without reading the descriptors: the refusal goes on the connection.
                let _ = conn.set_nonblocking(true);
                let _ = conn.write_all(format!("\x01{at_once} of your pushes are running already: try again when one is done\n").as_bytes());
                continue;
            };
            let (town, pushed, running) = (town.clone(), pushed.clone(), running.clone());
            let owner = owner.clone();
            let spawned = std::thread::Builder::new()
                .name("push".into())
                .spawn(move || {
                    let t = town();
                    let push = Push {
                        town: &t,
                        remote: remote(&owner),
                        running: &running,
                        pushed: &*pushed,
                    };
                    if let Err(e) = one_push(conn, uid, &push) {
                        tracing::warn!("push: {e}");
                    }
                    drop(slot);
                });
            if let Err(e) = spawned {
                tracing::error!("push: no thread for it: {e}");
            }
        }
    }
}

/// Tell the pusher why on its stderr (when it handed one over) and fail the push.
fn refuse(conn: &mut UnixStream, stderr: Option<&OwnedFd>, why: &str) -> std::io::Result<()> {
    match stderr {
        Some(fd) => {
            super::receive::say(fd, why);
            conn.write_all(&[1])
        }
        None => conn.write_all(format!("\x01{why}\n").as_bytes()),
    }
}

/// The descriptors and the repository's name the client sent.
fn receive_request(conn: &UnixStream) -> std::io::Result<(String, Vec<OwnedFd>)> {
    let mut buf = [0u8; 256];
    let mut space = nix::cmsg_space!([RawFd; 3]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(r) = c {
            // SAFETY: the kernel just gave us these descriptors; we own them now.
            fds.extend(r.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    let n = msg.bytes;
    Ok((String::from_utf8_lossy(&buf[..n]).trim().to_string(), fds))
}

fn one_push<R: super::TownRemote>(
    conn: UnixStream,
    uid: u32,
    push: &Push<R>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let (name, fds) = receive_request(&conn)?;
    pushing(conn, uid, &name, fds, push)
}

/// A push the client handed over: `uid` pushes to the repository `name` on `fds`. Who may
/// push where is checked before receive-pack runs; a refusal goes to the pusher's stderr.
fn pushing<R: super::TownRemote>(
    mut conn: UnixStream,
    uid: u32,
    name: &str,
    fds: Vec<OwnedFd>,
    push: &Push<R>,
) -> std::io::Result<()> {
    let town = push.town;
    let Some(r) = town.residents.iter().find(|r| r.uid == uid) else {
        return refuse(
            &mut conn,
            fds.get(2),
            &format!("uid {uid} is not a resident: only residents push to the town remote"),
        );
    };
    let Ok([stdin, stdout, stderr]) = <[OwnedFd; 3]>::try_from(fds) else {
        return refuse(
            &mut conn,
            None,
            "the push did not hand over stdin, stdout and stderr",
        );
    };
    let Some(repo) = town.repos.iter().find(|x| x.name == name) else {
        return refuse(
            &mut conn,
            Some(&stderr),
            &format!("the town remote has no repository `{name}`"),
        );
    };
    if !repo.push.contains(&r.name) {
        return refuse(
            &mut conn,
            Some(&stderr),
            &format!(
                "{} may not push to `{name}` (town.toml [[repo]] push)",
                r.name
            ),
        );
    }
    let remote = push.remote;
    let before = remote.refs(&repo.name, &r.name);
    let fds = [stdin, stdout, stderr];
    let code = remote.receive_pack(town, &r.name, &repo.name, push.running, fds)?;
    if code == 0 {
        let after = remote.refs(&repo.name, &r.name);
        let notices = remote.push_notices(&repo.name, &r.name, &before, &after);
        (push.pushed)(&r.name, notices);
    }
    tracing::info!(resident = %r.name, repo = %repo.name, code, "push");
    conn.write_all(&[code])
}

#[cfg(test)]
mod tests;
