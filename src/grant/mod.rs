//! Device grants: POSIX ACL entries on device nodes, held live from udev events, reconciled
//! at start and on reload, revoked when no longer declared.

mod acl;
pub mod console;
mod cut;
mod devices;
mod keeper;
pub mod lease;
mod rules;
mod serial;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub use acl::FakeAcls;
pub use acl::{Acls, PosixAcls};
pub use cut::{Cut, my_holders};
#[cfg(test)]
pub use devices::FakeDevices;
pub use devices::{Device, DeviceEvent, Devices, Udev};
pub use keeper::{Change, DeviceStatus, Held, Keeper};
pub use lease::{Lease, Leases};
pub use rules::{UACCESS, Want, interest, matches, wanted};
#[cfg(test)]
pub use serial::FakePorts;
pub use serial::{SerialPorts, Termios};
