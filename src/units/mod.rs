//! Each resident's own systemd user manager: linger through logind, transient units over
//! the resident's own session bus. Turns run here, never in the system manager.

mod manager;

pub use manager::{FakeUserManagers, SystemdUserManagers, TurnUnit, UnitEnd, UserManagers};
