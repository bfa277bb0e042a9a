//! The recording fake: each apply recorded as the timers it wanted; fails when told to,
//! and can be told to hold each apply until the test lets it go.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender};

use super::{Entry, Timers};
use crate::os::{OsError, Recorder};

#[derive(Debug, Default)]
pub struct FakeTimers {
    pub calls: Recorder,
    pub fail: bool,
    pub hold: Option<HeldApply>,
}

/// Each apply says it began (with what it wanted), then waits for a word to go on. Only
/// the wait is one at a time: two applies at once both say they began.
#[derive(Debug)]
pub struct HeldApply {
    pub began: Sender<String>,
    pub go_on: Mutex<Receiver<()>>,
}

impl Timers for FakeTimers {
    fn apply(&self, wanted: &[Entry]) -> Result<(), OsError> {
        let units: Vec<String> = wanted.iter().map(Entry::unit).collect();
        let call = format!("timers {}", units.join(" "));
        if let Some(hold) = &self.hold {
            let _ = hold.began.send(call.clone());
            let _ = hold.go_on.lock().expect("lock").recv();
        }
        self.calls.record(call);
        if self.fail {
            return Err(OsError::new(
                "starting the schedules' timers",
                "told to fail",
            ));
        }
        Ok(())
    }
}
