//! The hall: the counter between `townhall chat` (unprivileged, holds every Matrix
//! connection) and the root daemon. The chat process asks with typed, versioned requests,
//! one per connection, one JSON line each; the daemon answers with event lines.
//!
//! The daemon trusts nothing it reads here: it checks the peer's uid (SO_PEERCRED) and
//! re-validates every request against the town, so a compromised chat process can ask for
//! what a mayor could ask in a room, and nothing more.
//!
//! These are the hall's own types, not the daemon's: a change of the daemon's internals
//! changes nothing here, and a change here fails the golden test until VERSION is bumped.

mod activity;
mod ask;
mod client;
mod devices;
mod envelope;
mod mode;
mod network;
mod reports;
mod said;
mod turn;

pub use activity::Activity;
pub use ask::{Ask, Refused};
pub use client::{Counter, HallError, Replies};
pub use devices::{
    DEVICE_TOOL, DeviceStatus, Held, LONGEST_LEASE, Lease, LeaseDurationError, Permission,
    SHORTEST_LEASE, lease_duration,
};
pub use envelope::{BadEnvelope, Envelope};
pub use mode::{Mode, ModeChange};
pub use network::{NetworkReport, Refusal, RefusedBy};
pub use reports::{
    Branch, CheckpointInfo, CostReport, LossReport, RepoBranches, ResetSummary, ResidentReport,
    Worktree,
};
pub use said::{Came, Delivery, Notice, RoundRule, Said, ScheduleInfo, UsageDay};
pub use turn::{Outcome, Outgoing, RunningTurn, Spent, TurnEvent, dollars};

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Bumped when a request or event changes shape; both sides must agree.
pub const VERSION: u32 = 18;
/// A chain of residents answering residents stops after this many hops: in a shared room
/// (the chat counts) and through the town's `ask_resident` tool (root counts).
pub const HOP_LIMIT: u32 = 4;
/// The most audit entries `!audit` shows.
pub const MAX_HISTORY: u32 = 50;
/// The most days `!usage` charts.
pub const MAX_USAGE_DAYS: u32 = 90;
/// The longest request line the daemon reads (a prompt is at most MAX_PROMPT).
pub const MAX_LINE: usize = 256 * 1024;
/// The chat process's system user (dist/townhall.sysusers, the NixOS module).
pub const CHAT_USER: &str = "townhall-chat";
pub const CHAT_UNIT: &str = "townhall-chat.service";
/// The gate's unit: root names the model APIs' keys as its credentials.
pub const GATE_UNIT: &str = "townhall-gate.service";

/// Reachable by anyone (mode 0666), answered only for the chat user and root: the uid
/// check is the gate, and it is what the town tests probe.
pub fn socket() -> &'static Path {
    Path::new("/run/townhall-hall.sock")
}

/// Where a turn's answer goes: the room, the thread, and the message it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub room: String,
    pub thread: Option<String>,
    pub event: String,
}

#[cfg(test)]
mod golden;
