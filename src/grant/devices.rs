//! Devices as udev sees them: enumerated at start, then add/change/remove events.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use tokio::sync::mpsc;

use crate::os::{OsContext, OsError};

/// What townhall needs to know about one device to match rules against it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Device {
    pub syspath: PathBuf,
    pub devnode: Option<PathBuf>,
    pub subsystem: String,
    pub sysname: String,
    pub properties: BTreeMap<String, String>,
    pub tags: Vec<String>,
    /// Requested sysfs attributes of the device itself (first) and each parent, upward.
    pub attrs: Vec<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    Add(Device),
    Change(Device),
    Remove(Device),
}

pub trait Devices {
    /// Devices present now in `subsystems`, with the named attributes read up the tree.
    fn present(&self, subsystems: &[String], attrs: &[String]) -> Result<Vec<Device>, OsError>;
    /// A stream of events for `subsystems`, read on its own thread.
    fn watch(
        &self,
        subsystems: &[String],
        attrs: &[String],
    ) -> Result<mpsc::Receiver<DeviceEvent>, OsError>;
}

#[derive(Debug, Default)]
pub struct Udev;

fn describe(d: &udev::Device, attrs: &[String]) -> Device {
    let s = |o: Option<&std::ffi::OsStr>| {
        o.map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut chain = Vec::new();
    let mut cur = Some(d.clone());
    while let Some(dev) = cur {
        let found = attrs
            .iter()
            .filter_map(|a| {
                dev.attribute_value(a)
                    .map(|v| (a.clone(), s(Some(v)).trim_end().to_string()))
            })
            .collect();
        chain.push(found);
        cur = dev.parent();
    }
    Device {
        syspath: d.syspath().to_owned(),
        devnode: d.devnode().map(|p| p.to_owned()),
        subsystem: s(d.subsystem()),
        sysname: s(Some(d.sysname())),
        properties: d
            .properties()
            .map(|p| (s(Some(p.name())), s(Some(p.value()))))
            .collect(),
        tags: d
            .property_value("CURRENT_TAGS")
            .or_else(|| d.property_value("TAGS"))
            .map(|t| {
                s(Some(t))
                    .split(':')
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default(),
        attrs: chain,
    }
}

impl Devices for Udev {
    fn present(&self, subsystems: &[String], attrs: &[String]) -> Result<Vec<Device>, OsError> {
        let what = || "enumerating devices".to_string();
        let mut out = Vec::new();
        for sub in subsystems {
            let mut e = udev::Enumerator::new().os(what)?;
            e.match_subsystem(sub).os(what)?;
            out.extend(e.scan_devices().os(what)?.map(|d| describe(&d, attrs)));
        }
        Ok(out)
    }

    fn watch(
        &self,
        subsystems: &[String],
        attrs: &[String],
    ) -> Result<mpsc::Receiver<DeviceEvent>, OsError> {
        let what = || "watching udev events".to_string();
        let (tx, rx) = mpsc::channel(256);
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let (subsystems, attrs) = (subsystems.to_vec(), attrs.to_vec());
        // libudev handles are not Send: the thread creates and owns the monitor.
        std::thread::Builder::new()
            .name("udev-monitor".into())
            .spawn(move || {
                let listen = || -> std::io::Result<udev::MonitorSocket> {
                    let mut builder = udev::MonitorBuilder::new()?;
                    for sub in &subsystems {
                        builder = builder.match_subsystem(sub)?;
                    }
                    builder.listen()
                };
                match listen() {
                    Ok(socket) => {
                        let _ = ready_tx.send(Ok(()));
                        monitor(socket, attrs, tx);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .os(what)?;
        ready_rx.recv().os(what)?.os(what)?;
        Ok(rx)
    }
}

fn monitor(socket: udev::MonitorSocket, attrs: Vec<String>, tx: mpsc::Sender<DeviceEvent>) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::BorrowedFd;
    loop {
        // SAFETY: the socket outlives this borrow; it is owned by this loop.
        let fd = unsafe { BorrowedFd::borrow_raw(socket.as_raw_fd()) };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(1000u16)).is_err() {
            continue;
        }
        for event in socket.iter() {
            let dev = describe(&event.device(), &attrs);
            let ev = match event.event_type() {
                udev::EventType::Add => DeviceEvent::Add(dev),
                udev::EventType::Change => DeviceEvent::Change(dev),
                udev::EventType::Remove => DeviceEvent::Remove(dev),
                _ => continue,
            };
            if tx.blocking_send(ev).is_err() {
                return; // nobody listens any more
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::FakeDevices;
