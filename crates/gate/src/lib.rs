//! The gate: the one process that holds the town's model API keys. A resident's CLI is
//! pointed at the gate on loopback with a placeholder key; the gate learns who is calling
//! from the kernel (the uid that owns the connecting socket, `caller`), swaps the
//! placeholder for that resident's real key (`credential`) and streams the upstream's
//! answer back unchanged (`proxy`). A key never enters a resident's reach, and a
//! placeholder is worth nothing anywhere but here, and here only to its own uid.

pub mod bench;
pub mod caller;
pub mod count;
pub mod credential;
pub mod proxy;
pub mod routes;
pub mod tunnel;
pub mod usage;

pub use credential::{Api, Scheme};
pub use proxy::{Routes, serve};
