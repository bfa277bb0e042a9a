//! Device grants: POSIX ACL entries on device nodes, held live from udev events, reconciled
//! at start and on reload, revoked when no longer declared.

mod acl;
pub mod console;
mod cut;
mod devices;
mod keeper;
pub mod lease;
mod rules;
#[cfg(test)]
mod tests;

pub use acl::{Acls, FakeAcls, PosixAcls};
pub use cut::{Cut, my_holders};
pub use devices::{Device, DeviceEvent, Devices, FakeDevices, Udev};
pub use keeper::{Change, DeviceStatus, Held, Keeper};
pub use lease::{Lease, Leases};
pub use rules::{UACCESS, Want, interest, matches, wanted};
