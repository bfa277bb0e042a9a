//! Connecting to a resident's session bus as the resident. dbus-daemon admits only the bus
//! owner's uid, so the socket must be connected with that uid. The connect happens in a
//! forked child with all of the resident's ids, which hands the connected socket back over
//! a socketpair (SCM_RIGHTS): a thread of the supervisor that took the resident's uid, even
//! briefly, could be sent SIGKILL by the resident (tgkill) and take the daemon with it, and
//! a connect that blocks (a listener that never accepts) ends with the child, not a thread.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long the child may take to connect.
const CONNECT: Duration = Duration::from_secs(10);

/// A blocking call: run it on a blocking thread.
pub fn connect_as(uid: u32, path: &Path) -> io::Result<UnixStream> {
    // Everything the child needs is made before the fork: it may only make raw syscalls.
    // SAFETY: sockaddr_un is plain old data; all-zero is a valid value to fill in.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::other(format!(
            "{} is too long for a socket path",
            path.display()
        )));
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let (ours, theirs) = UnixStream::pair()?;
    ours.set_read_timeout(Some(CONNECT))?;
    // SAFETY: CMSG_SPACE is a size computation.
    let mut cmsg =
        vec![0u8; unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize];
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: msghdr is plain old data; the pointers set below outlive every use of it.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.len() as _;
    let their_fd = theirs.as_raw_fd();
    let msg_ptr: *const libc::msghdr = &msg;
    // SAFETY: the child makes only raw syscalls on memory prepared above.
    let child = unsafe {
        crate::os::fork_as(uid, || {
            let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            if fd < 0 || libc::connect(fd, (&raw const addr).cast(), len) != 0 {
                // The errno, as the one byte the parent reads.
                let e = *libc::__errno_location() as u8;
                libc::write(their_fd, (&raw const e).cast(), 1);
                return 1;
            }
            let c = libc::CMSG_FIRSTHDR(msg_ptr);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), fd);
            if libc::sendmsg(their_fd, msg_ptr, 0) == 1 {
                0
            } else {
                2
            }
        })
    };
    drop(theirs);
    let pid = child?;
    let received = receive(&ours, &mut msg);
    // SAFETY: kill(2) on our own child, which stays a zombie until the wait below.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = crate::os::wait_child(pid);
    received
}

/// The connected socket from the child, or why it could not connect.
fn receive(ours: &UnixStream, msg: &mut libc::msghdr) -> io::Result<UnixStream> {
    // SAFETY: msg points at buffers that live in the caller's frame.
    let n = unsafe { libc::recvmsg(ours.as_raw_fd(), msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        let e = io::Error::last_os_error();
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting took longer than {} s", CONNECT.as_secs()),
            ));
        }
        return Err(e);
    }
    // SAFETY: reading the control message the kernel filled in, if any.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(msg);
        if !c.is_null() && (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS
        {
            let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
            return Ok(UnixStream::from(OwnedFd::from_raw_fd(fd)));
        }
        if n == 1 {
            return Err(io::Error::from_raw_os_error(i32::from(
                *(*msg.msg_iov).iov_base.cast::<u8>(),
            )));
        }
    }
    Err(io::Error::other(
        "the connecting child ended without a socket",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_hands_back_a_connected_socket_with_its_uid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let stream = connect_as(me, &path).unwrap();
        let (server, _) = listener.accept().unwrap();
        let cred =
            nix::sys::socket::getsockopt(&server, nix::sys::socket::sockopt::PeerCredentials)
                .unwrap();
        assert_eq!(cred.uid(), me);
        drop(stream);
        let gone = dir.path().join("missing");
        let e = connect_as(me, &gone).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    }
}
