//! Who may hold how many of root's connections. Every socket root serves a resident caps
//! the connections one uid holds open at once (a resident that opens thousands gets its
//! newest ones closed at once, and nobody else notices), and its accept loop outlives
//! accept()'s errors: EMFILE when descriptors run out is logged and tried again after a
//! pause that grows, never the end of a listener or of the daemon.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LAST_PAUSE: Duration = Duration::from_secs(2);

/// Open connections per uid on one socket.
#[derive(Debug, Default)]
pub struct Slots {
    open: Mutex<HashMap<u32, usize>>,
    /// When a refusal was last logged, so a flood is not a flood of log lines too.
    said: Mutex<Option<Instant>>,
}

/// One connection's place; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    uid: u32,
}

impl Slots {
    /// A place for one more connection of `uid`, unless it already holds `max`.
    pub fn take(self: &Arc<Self>, uid: u32, max: usize, socket: &str) -> Option<Slot> {
        let mut open = self.open.lock().expect("lock");
        let n = open.entry(uid).or_default();
        if *n >= max {
            drop(open);
            let mut said = self.said.lock().expect("lock");
            if said.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                *said = Some(Instant::now());
                tracing::warn!(
                    uid,
                    "{socket}: uid {uid} already holds {max} connections; closing its newest (said once per 10 s)"
                );
            }
            return None;
        }
        *n += 1;
        Some(Slot {
            slots: self.clone(),
            uid,
        })
    }

    /// Connections `uid` holds now.
    pub fn held(&self, uid: u32) -> usize {
        self.open
            .lock()
            .expect("lock")
            .get(&uid)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().expect("lock");
        if let Some(n) = open.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.uid);
            }
        }
    }
}

/// Where connections come from: a Unix listener, or a fake that fails in tests.
pub trait Listener: Send + 'static {
    type Stream: Send + 'static;
    fn accept(&mut self) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

impl Listener for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept(&mut self) -> io::Result<Self::Stream> {
        tokio::net::UnixListener::accept(self).await.map(|(s, _)| s)
    }
}

/// Count failures in a row; say the first and then each power of two.
fn failed(failures: &mut u32, socket: &str, e: &io::Error) -> Duration {
    *failures += 1;
    let pause = crate::backoff::delay(*failures, FIRST_PAUSE, LAST_PAUSE);
    if failures.is_power_of_two() {
        tracing::error!(
            "{socket}: accepting a connection failed ({e}), {failures} time(s) in a row; trying again in {pause:?}"
        );
    }
    pause
}

/// The next connection: an error is logged and tried again after a pause.
pub async fn next<L: Listener>(listener: &mut L, socket: &str) -> L::Stream {
    let mut failures = 0;
    loop {
        match listener.accept().await {
            Ok(s) => return s,
            Err(e) => tokio::time::sleep(failed(&mut failures, socket, &e)).await,
        }
    }
}

/// `next` for a blocking listener (the push pipe's thread).
pub fn next_blocking(
    listener: &std::os::unix::net::UnixListener,
    socket: &str,
) -> std::os::unix::net::UnixStream {
    let mut failures = 0;
    loop {
        match listener.accept() {
            Ok((s, _)) => return s,
            Err(e) => std::thread::sleep(failed(&mut failures, socket, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_holds_at_most_its_cap_and_a_closed_connection_gives_its_place_back() {
        let slots = Arc::new(Slots::default());
        let held: Vec<Slot> = (0..3).filter_map(|_| slots.take(1100, 3, "test")).collect();
        assert_eq!(held.len(), 3);
        assert!(slots.take(1100, 3, "test").is_none(), "over the cap");
        assert!(
            slots.take(1101, 3, "test").is_some(),
            "another uid is not held up"
        );
        drop(held);
        assert_eq!(slots.held(1100), 0);
        assert!(slots.take(1100, 3, "test").is_some());
    }
}
