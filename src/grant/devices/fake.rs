//! The recording fake of this seam (FakeDevices), compiled for tests only.

use std::sync::Mutex;

use crate::os::Recorder;

use super::*;

/// A fixed set of devices and a channel the test feeds events into.
#[derive(Debug, Default)]
pub struct FakeDevices {
    pub devices: Vec<Device>,
    pub events: Mutex<Option<mpsc::Receiver<DeviceEvent>>>,
    pub calls: Recorder,
}

impl Devices for FakeDevices {
    fn present(&self, subsystems: &[String], _attrs: &[String]) -> Result<Vec<Device>, OsError> {
        self.calls.record(format!("present {subsystems:?}"));
        Ok(self
            .devices
            .iter()
            .filter(|d| subsystems.contains(&d.subsystem))
            .cloned()
            .collect())
    }

    fn watch(
        &self,
        subsystems: &[String],
        _attrs: &[String],
    ) -> Result<mpsc::Receiver<DeviceEvent>, OsError> {
        self.calls.record(format!("watch {subsystems:?}"));
        self.events
            .lock()
            .expect("lock")
            .take()
            .ok_or_else(|| OsError::new("watching", "already watched"))
    }
}
