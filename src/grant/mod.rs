//! Device grants: POSIX ACL entries on device nodes, driven by udev.

mod acl;
mod devices;

pub use acl::{Acls, FakeAcls, PosixAcls};
pub use devices::{Device, DeviceEvent, Devices, FakeDevices, Udev};
