//! Each resident's own systemd user manager: linger through logind, transient units over
//! the resident's own session bus, and PID 1 behind them for what must hold. Turns run in
//! the resident's manager, never in the system manager.

mod connect;
pub mod helper;
mod manager;
mod systemd;

pub use manager::{FakeRun, FakeUserManagers, TurnUnit, UnitEnd, UserManagers};
pub use systemd::SystemdUserManagers;
