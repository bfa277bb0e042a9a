//! The recording fake: each apply recorded as the timers it wanted; fails when told to.

use super::{Entry, Timers};
use crate::os::{OsError, Recorder};

#[derive(Debug, Default)]
pub struct FakeTimers {
    pub calls: Recorder,
    pub fail: bool,
}

impl Timers for FakeTimers {
    fn apply(&self, wanted: &[Entry]) -> Result<(), OsError> {
        let units: Vec<String> = wanted.iter().map(Entry::unit).collect();
        self.calls.record(format!("timers {}", units.join(" ")));
        if self.fail {
            return Err(OsError::new(
                "starting the schedules' timers",
                "told to fail",
            ));
        }
        Ok(())
    }
}
