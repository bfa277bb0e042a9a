//! A turn as the hall tells it: its events as they come, its outcome, what it spent, and
//! the files it left to post. The root daemon's own types convert into these.

use serde::{Deserialize, Serialize};

/// One event of a turn's output, in the order the CLI produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TurnEvent {
    /// Text to append to the answer.
    Text {
        text: String,
    },
    /// A one-line summary of a tool the agent used.
    Tool {
        summary: String,
    },
    /// The CLI's final answer, when it reports one separately from the text.
    Final {
        text: String,
    },
    /// The CLI's own session id.
    Session {
        id: String,
    },
    Usage {
        input_tokens: u64,
        output_tokens: u64,
        cost_usd: Option<f64>,
    },
    Error {
        message: String,
    },
    /// Something the mayor should know that is not an error.
    Notice {
        text: String,
    },
    /// The conversation is busy: this many turns are ahead of this one.
    Queued {
        ahead: u32,
    },
}

/// Spending summed over turns: cost as the CLI reported it (claude does; codex and gemini
/// report tokens only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Spent {
    pub turns: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

impl Spent {
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }
}

/// A file a turn left in its outbox, in root's hand-over copy for the chat to upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    pub name: String,
    pub mimetype: String,
    pub bytes: u64,
    pub path: std::path::PathBuf,
}

/// How a turn ended. Root keeps undelivered answers on disk in this shape, so fields
/// added later read as their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// systemd's result for the unit: success, exit-code, signal, timeout, …
    pub result: String,
    pub status: i32,
    pub stopped: bool,
    pub timed_out: bool,
    /// The last lines the CLI wrote to stderr.
    pub stderr_tail: Vec<String>,
    pub duration_ms: u64,
    /// What the turn spent, and its conversation this round.
    #[serde(default)]
    pub spent: Option<Spent>,
    #[serde(default)]
    pub conversation_spent: Option<Spent>,
    /// The CLI session the conversation continues in.
    #[serde(default)]
    pub session: Option<String>,
    /// What the turn left in its outbox, ready to post; and what it left there unsent.
    #[serde(default)]
    pub files: Vec<Outgoing>,
    #[serde(default)]
    pub files_left: Vec<String>,
    /// What the turn used the town's tools for, and how often ("asked the mayor": 1).
    #[serde(default)]
    pub tools: std::collections::BTreeMap<String, u32>,
    /// The branch of the conversation's own worktree (`NAME/conv-…`), when it has one.
    #[serde(default)]
    pub branch: Option<String>,
}

/// A turn running now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningTurn {
    pub resident: String,
    pub conversation: String,
    pub unit: String,
    pub running_secs: u64,
}

/// An amount in dollars as the mayor reads it: cents, or the first digits of a fraction.
pub fn dollars(usd: f64) -> String {
    if usd >= 0.01 || usd == 0.0 {
        format!("${usd:.2}")
    } else {
        format!("${usd:.6}").trim_end_matches('0').to_string()
    }
}
