//! The push pipe. `git push town …` runs `townhall push PATH` as the resident; that client
//! hands its stdin, stdout and stderr to the daemon over /run/townhall-push.sock
//! (SCM_RIGHTS) with the repository's name. The daemon knows the pusher from SO_PEERCRED,
//! checks the repository lets it push, and runs stock `git receive-pack` as the remote's
//! user on those descriptors, with townhall's hook deciding; the exit status goes back.

use std::io::{IoSlice, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Stdio;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};

use crate::config::Town;

/// The client: `townhall push PATH`, run by git as the resident. Returns receive-pack's exit code.
pub fn push_client(path: &Path) -> std::io::Result<i32> {
    let name = path.file_name().and_then(|n| n.to_str()).map(|n| n.trim_end_matches(".git").trim_end_matches('/')).unwrap_or("");
    let mut s = UnixStream::connect(super::pipe_socket())?;
    let fds: [RawFd; 3] = [0, 1, 2];
    let line = format!("{name}\n");
    sendmsg::<()>(s.as_raw_fd(), &[IoSlice::new(line.as_bytes())], &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)?;
    let mut status = [0u8; 1];
    s.read_exact(&mut status)?;
    Ok(i32::from(status[0]))
}

/// The daemon's side.
pub struct Pipe {
    listener: UnixListener,
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

    /// Serve pushes forever (blocking: run on a thread of its own); `town` is re-read for
    /// each push so reloads apply.
    pub fn serve(self, town: impl Fn() -> std::sync::Arc<Town> + Send + Sync + 'static, pushed: impl Fn(&str, Vec<crate::hall::Notice>) + Send + Sync + 'static) {
        let town = std::sync::Arc::new(town);
        let pushed = std::sync::Arc::new(pushed);
        for conn in self.listener.incoming().map_while(Result::ok) {
            let (town, pushed) = (town.clone(), pushed.clone());
            std::thread::spawn(move || {
                if let Err(e) = one_push(conn, &town(), &*pushed) {
                    tracing::warn!("push: {e}");
                }
            });
        }
    }
}

fn refuse(conn: &mut UnixStream, stderr: Option<&OwnedFd>, why: &str) -> std::io::Result<()> {
    if let Some(fd) = stderr {
        let mut f = std::fs::File::from(fd.try_clone()?);
        let _ = writeln!(f, "townhall: {why}");
    }
    conn.write_all(&[1])
}

fn one_push(mut conn: UnixStream, town: &Town, pushed: &dyn Fn(&str, Vec<crate::hall::Notice>)) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let uid = nix::sys::socket::getsockopt(&conn, nix::sys::socket::sockopt::PeerCredentials)?.uid();
    let mut buf = [0u8; 256];
    let mut space = nix::cmsg_space!([RawFd; 3]);
    let (n, fds) = {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(r) = c {
                // SAFETY: the kernel just gave us these descriptors; we own them now.
                fds.extend(r.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
            }
        }
        (msg.bytes, fds)
    };
    let name = String::from_utf8_lossy(&buf[..n]).trim().to_string();
    let stderr = fds.get(2);
    let Some(r) = town.residents.iter().find(|r| r.uid == uid) else {
        return refuse(&mut conn, stderr, &format!("uid {uid} is not a resident: only residents push to the town remote"));
    };
    if fds.len() != 3 {
        return refuse(&mut conn, stderr, "the push did not hand over stdin, stdout and stderr");
    }
    let Some(repo) = town.repos.iter().find(|x| x.name == name) else {
        return refuse(&mut conn, stderr, &format!("the town remote has no repository `{name}`"));
    };
    if !repo.push.contains(&r.name) {
        return refuse(&mut conn, stderr, &format!("{} may not push to `{name}` (town.toml [[repo]] push)", r.name));
    }
    let user = super::git_user().map_err(std::io::Error::other)?;
    let path = super::repo_path(&repo.name);
    let before = super::refs_of(&repo.name, &r.name);
    let fd = |i: usize| -> std::io::Result<Stdio> { Ok(Stdio::from(fds[i].try_clone()?)) };
    let status = super::git_as(user.uid.as_raw(), user.gid.as_raw(), Path::new("/nonexistent"))
        .arg("receive-pack")
        .arg(&path)
        .env("TOWNHALL_PUSHER", &r.name)
        .env("TOWNHALL_CONFIG", &town.dir)
        .stdin(fd(0)?)
        .stdout(fd(1)?)
        .stderr(fd(2)?)
        .status()?;
    drop(fds);
    let code = status.code().unwrap_or(1).clamp(0, 255) as u8;
    if code == 0 {
        let after = super::refs_of(&repo.name, &r.name);
        pushed(&r.name, super::push_notices(&repo.name, &r.name, &before, &after));
    }
    tracing::info!(resident = %r.name, repo = %repo.name, code, "push");
    conn.write_all(&[code])
}
