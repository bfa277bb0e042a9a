//! Each resident's own systemd user manager: linger through logind, transient units over
//! the resident's own session bus, and PID 1 behind them for what must hold. Turns run in
//! the resident's manager, never in the system manager.

mod connect;
pub mod helper;
mod manager;
mod systemd;

#[cfg(test)]
pub use manager::{FakeRun, FakeUserManagers};
pub use manager::{TurnUnit, UnitEnd, UserManagers};
pub use systemd::SystemdUserManagers;
