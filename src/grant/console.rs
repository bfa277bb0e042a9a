//! Serial consoles for `!tail`: root opens a leased or granted device read-only, sets the
//! line raw at the chosen baud rate (raw also turns echo off, so nothing is ever written
//! back), and hands what arrives to the chat in bounded batches. What comes off the wire is
//! whatever a resident's firmware says: it is cleaned, capped and never interpreted.

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::termios::{self, BaudRate, ControlFlags, SetArg};

use crate::os::OsError;

/// One message at most this often, and at most this long: a flood is dropped and counted.
pub const EVERY: Duration = Duration::from_secs(2);
pub const MAX_BATCH: usize = 3000;

/// termios's name for each of the rates a rule or `!tail` may name (`config::serial`).
pub fn baud(rate: u32) -> Option<BaudRate> {
    use BaudRate::*;
    Some(match rate {
        1200 => B1200,
        2400 => B2400,
        4800 => B4800,
        9600 => B9600,
        19200 => B19200,
        38400 => B38400,
        57600 => B57600,
        115200 => B115200,
        230400 => B230400,
        460800 => B460800,
        921600 => B921600,
        1000000 => B1000000,
        2000000 => B2000000,
        _ => return None,
    })
}

pub use crate::config::serial::RATES;

/// Open `node` read-only, raw, at `rate` (its current speed when None), ignoring the modem
/// lines so a missing carrier does not block.
pub fn open(node: &Path, rate: Option<u32>) -> Result<std::fs::File, OsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let what = || format!("opening {} to tail it", node.display());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(node)
        .map_err(|e| OsError::new(what(), e))?;
    let mut t = termios::tcgetattr(file.as_fd())
        .map_err(|e| OsError::new(what(), format!("not a terminal device ({e})")))?;
    termios::cfmakeraw(&mut t);
    t.control_flags |= ControlFlags::CLOCAL | ControlFlags::CREAD;
    if let Some(r) = rate {
        let b = baud(r).ok_or_else(|| {
            OsError::new(
                what(),
                format!("{r} is not a baud rate townhall sets; use {RATES}"),
            )
        })?;
        termios::cfsetspeed(&mut t, b).map_err(|e| OsError::new(what(), e))?;
    }
    termios::tcsetattr(file.as_fd(), SetArg::TCSANOW, &t).map_err(|e| OsError::new(what(), e))?;
    Ok(file)
}

/// Times a tail opens its device again after a hangup (a resident's grant ended) before it
/// takes the end of the device for its going away.
const REOPENS: u32 = 3;

/// Read until `stop` is set or the device goes away, sending each read's bytes; returns
/// why it ended. A hangup (end-of-file or EIO while the device is still there: `reopen`
/// gives it again) is read through. Blocking: run it on a thread of its own.
pub fn follow<F: Read + AsFd>(
    mut file: F,
    reopen: &dyn Fn() -> Option<F>,
    stop: &AtomicBool,
    out: tokio::sync::mpsc::Sender<Vec<u8>>,
) -> String {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut buf = [0u8; 4096];
    let mut reopened = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(200u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return format!("polling the device failed: {e}"),
        }
        let r = file.read(&mut buf);
        if matches!(&r, Ok(0))
            || r.as_ref()
                .is_err_and(|e| e.raw_os_error() == Some(libc::EIO))
        {
            match reopen() {
                Some(f) if reopened < REOPENS => {
                    file = f;
                    reopened += 1;
                    continue;
                }
                _ => return "the device went away".into(),
            }
        }
        match r {
            Ok(0) => return "the device went away".into(),
            Ok(n) => {
                if out.blocking_send(buf[..n].to_vec()).is_err() {
                    return "nobody is listening".into();
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(libc::EIO) => return "the device went away".into(),
            Err(e) => return format!("reading the device failed: {e}"),
        }
    }
    "stopped".into()
}

/// What arrived since the last message, cleaned and capped.
#[derive(Debug, Default)]
pub struct Batch {
    text: String,
    dropped: usize,
}

impl Batch {
    /// Printable text, newlines and tabs; carriage returns and other controls go (a
    /// terminal's escape sequences would only be noise in a room).
    pub fn push(&mut self, bytes: &[u8]) {
        for c in String::from_utf8_lossy(bytes).chars() {
            if c.is_control() && c != '\n' && c != '\t' {
                continue;
            }
            if self.text.len() + c.len_utf8() > MAX_BATCH {
                self.dropped += c.len_utf8();
            } else {
                self.text.push(c);
            }
        }
    }

    /// The next message, if anything arrived: a code block whose fence no received text
    /// can close.
    pub fn take(&mut self) -> Option<String> {
        if self.text.is_empty() && self.dropped == 0 {
            return None;
        }
        let mut msg = townhall_wire::markdown::fenced(&std::mem::take(&mut self.text));
        if self.dropped > 0 {
            msg.push_str(&format!(
                "\n_({} bytes dropped: more than {MAX_BATCH} in {} s)_",
                self.dropped,
                EVERY.as_secs()
            ));
            self.dropped = 0;
        }
        Some(msg)
    }
}

/// The consoles being tailed: one tail per device, stopped by `!untail`, by the device
/// going away, or by its room's connection closing.
#[derive(Default)]
pub struct Tails(Mutex<HashMap<PathBuf, Arc<AtomicBool>>>);

impl Tails {
    /// A stop flag for `node`; None when it is tailed already.
    pub fn start(&self, node: &Path) -> Option<Arc<AtomicBool>> {
        let mut map = self.0.lock().expect("lock");
        if map.get(node).is_some_and(|s| !s.load(Ordering::Relaxed)) {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        map.insert(node.to_path_buf(), stop.clone());
        Some(stop)
    }

    /// Stop the tail of `node`; whether one ran.
    pub fn stop(&self, node: &Path) -> bool {
        self.0
            .lock()
            .expect("lock")
            .remove(node)
            .is_some_and(|s| !s.swap(true, Ordering::Relaxed))
    }

    /// The tail ended on its own: forget it, unless a new one took its place.
    pub fn ended(&self, node: &Path, stop: &Arc<AtomicBool>) {
        let mut map = self.0.lock().expect("lock");
        if map.get(node).is_some_and(|s| Arc::ptr_eq(s, stop)) {
            map.remove(node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rate_the_config_allows_has_a_termios_speed() {
        for r in crate::config::serial::BAUD_RATES {
            assert!(baud(r).is_some(), "{r}");
        }
        assert!(baud(1234).is_none());
    }

    #[test]
    fn batches_are_clean_capped_and_fenced_so_nothing_escapes() {
        let mut b = Batch::default();
        assert_eq!(b.take(), None);
        b.push(b"boot ok\r\n\x1b[31mred\x1b[0m\n");
        assert_eq!(b.take().unwrap(), "```\nboot ok\n[31mred[0m\n```");
        b.push(b"a ```` fence\n\xff");
        let m = b.take().unwrap();
        assert!(m.starts_with("`````\n") && m.ends_with("\n`````"), "{m}");
        b.push(&vec![b'x'; MAX_BATCH + 500]);
        let m = b.take().unwrap();
        assert!(
            m.ends_with("_(500 bytes dropped: more than 3000 in 2 s)_"),
            "{m:.80}"
        );
        assert_eq!(b.take(), None, "the count is said once");
    }

    #[test]
    fn a_pipe_is_followed_until_it_closes_or_is_stopped() {
        let (r, w) = std::io::pipe().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let stop = AtomicBool::new(false);
        let reader = std::thread::scope(|s| {
            let h = s.spawn(|| follow(r, &|| None, &stop, tx));
            let mut w = w;
            std::io::Write::write_all(&mut w, b"hello").unwrap();
            assert_eq!(rx.blocking_recv().unwrap(), b"hello");
            drop(w);
            h.join().unwrap()
        });
        assert_eq!(reader, "the device went away");
        let tails = Tails::default();
        let node = Path::new("/dev/ttyS0");
        let flag = tails.start(node).unwrap();
        assert!(tails.start(node).is_none(), "one tail per device");
        assert!(tails.stop(node) && flag.load(Ordering::Relaxed));
        assert!(!tails.stop(node));
        let again = tails.start(node).unwrap();
        tails.ended(node, &flag);
        assert!(
            tails.start(node).is_none(),
            "an old tail's end does not forget the new one"
        );
        tails.ended(node, &again);
        assert!(tails.start(node).is_some());
    }
}
