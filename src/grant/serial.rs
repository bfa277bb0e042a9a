//! Serial ports as a seam: `!tail` opens a device read-only and raw through it. `Termios`
//! opens the device node itself; the fake hands out pipes the test writes into, so what
//! the daemon does with a console's bytes (batches, the end of the reader) is tested
//! without a UART.

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use crate::os::OsError;

pub trait SerialPorts {
    type Port: Read + AsFd + Send + 'static;
    /// Open `node` read-only and raw at `rate` (its current speed when None).
    fn open(&self, node: &Path, rate: Option<u32>) -> Result<Self::Port, OsError>;
}

/// The host's serial devices, set raw with termios.
pub struct Termios;

impl SerialPorts for Termios {
    type Port = std::fs::File;
    fn open(&self, node: &Path, rate: Option<u32>) -> Result<std::fs::File, OsError> {
        super::console::open(node, rate)
    }
}

/// The recording fake (FakePorts), compiled for tests only: each open takes the next
/// prepared port (the read end of a pipe), or fails when none is left.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct FakePorts {
    pub calls: crate::os::Recorder,
    pub ports: std::sync::Mutex<std::collections::VecDeque<std::fs::File>>,
}

#[cfg(test)]
impl FakePorts {
    /// A port whose bytes the test writes into the returned end.
    pub fn plug(&self) -> std::fs::File {
        let (read, write) = nix::unistd::pipe().expect("a pipe");
        self.ports.lock().expect("lock").push_back(read.into());
        write.into()
    }
}

#[cfg(test)]
impl SerialPorts for FakePorts {
    type Port = std::fs::File;
    fn open(&self, node: &Path, rate: Option<u32>) -> Result<std::fs::File, OsError> {
        self.calls
            .record(format!("open {} {rate:?}", node.display()));
        self.ports
            .lock()
            .expect("lock")
            .pop_front()
            .ok_or_else(|| OsError::new(format!("opening {}", node.display()), "no such port"))
    }
}
