//! The conversations as the daemon holds them: the pure state behind a lock, written to
//! disk after every change, so a message is on disk before its asker hears it was taken.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::disk;
use super::state::{Arrival, Batch, Key, Lanes, Message};
use crate::os::OsError;

pub struct Conversations<T> {
    path: PathBuf,
    lanes: Mutex<Lanes<T>>,
}

impl<T> Conversations<T> {
    /// Read back what a stopped daemon left: its conversations stay busy until `resume`.
    pub fn new(state: &Path) -> Result<Self, OsError> {
        let path = state.join(disk::FILE);
        let lanes = Lanes::restarted(disk::load(&path)?);
        Ok(Self {
            path,
            lanes: Mutex::new(lanes),
        })
    }

    /// Apply one transition and save the state it leaves.
    fn change<R>(&self, f: impl FnOnce(&mut Lanes<T>) -> R) -> R {
        let mut lanes = self.lanes.lock().expect("lock");
        let r = f(&mut lanes);
        // A full disk must not stop the town's turns: the state holds in memory.
        if let Err(e) = disk::save(&self.path, &lanes.saved()) {
            tracing::warn!("{e}");
        }
        r
    }

    pub fn arrive(&self, key: Key, message: Message, asker: T) -> Arrival<T> {
        self.change(|l| l.arrive(key, message, asker))
    }

    /// A message that runs only if the conversation is idle (a schedule's): its batch, or
    /// None when a turn runs there (the message is dropped).
    pub fn arrive_idle(&self, key: Key, message: Message) -> Option<Batch<T>> {
        self.change(|l| l.arrive_idle(key, message))
    }

    /// A message no one waits on: its batch now, or None when it waits behind the turn.
    pub fn arrive_unasked(&self, key: Key, message: Message) -> Option<Batch<T>> {
        self.change(|l| l.arrive_unasked(key, message))
    }

    pub fn park(&self, key: &Key, until: Option<u64>, now: u64) -> Option<u64> {
        self.change(|l| l.park(key, until, now))
    }

    pub fn unpark(&self, key: &Key) -> Option<Batch<T>> {
        self.change(|l| l.unpark(key))
    }

    pub fn parked(&self) -> Vec<(Key, u64)> {
        self.lanes.lock().expect("lock").parked()
    }

    pub fn wake_now(&self, resident: &str) -> usize {
        self.change(|l| l.wake_now(resident))
    }

    pub fn cancel_parked(&self, resident: &str) -> usize {
        self.change(|l| l.cancel_parked(resident))
    }

    pub fn ended(&self, key: &Key) -> Option<Batch<T>> {
        self.change(|l| l.ended(key))
    }

    pub fn resume(&self) -> Vec<(Key, Batch<T>)> {
        self.change(|l| l.resume())
    }

    pub fn waiting(&self, resident: &str) -> usize {
        self.lanes.lock().expect("lock").waiting(resident)
    }
}
