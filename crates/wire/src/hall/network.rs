//! What `!network` shows and what the room hears of a resident's network: the hosts it may
//! reach and what was refused this round, at the gate or in the kernel.

use serde::{Deserialize, Serialize};

/// One resident's network this round (the words are the chat's).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NetworkReport {
    pub resident: String,
    pub round: u64,
    /// Whether the town has a gate: without one no rules hold for anyone.
    pub gated: bool,
    /// What its `[network] allow` names, as `host:port`.
    pub allowed: Vec<String>,
    /// Hosts a mayor opened for this round.
    pub opened: Vec<String>,
    /// What was refused this round, most frequent first.
    pub refused: Vec<Refusal>,
}

/// Where something was refused: the gate's proxy (a host not allowed, a mayor's no) or the
/// kernel's rules (a packet that went around the gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusedBy {
    Gate,
    Kernel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// `host:port` at the gate; `address port/protocol` in the kernel.
    pub to: String,
    pub by: RefusedBy,
    pub times: u64,
}
