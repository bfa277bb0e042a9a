//! Turns: a message becomes one run of the resident's agent CLI as a transient unit in its
//! own user manager. Drivers turn each CLI's output into events.

pub mod bounds;
pub mod conversation;
mod desk;
pub mod drivers;
mod gated;
mod ledger;
pub mod modes;
mod opening;
mod run;
mod sessions;
mod watch;

pub use desk::{Desk, RunningTurn, TurnError};
pub use drivers::{Invocation, Reader, invocation};
pub use ledger::{Ledger, RoundSpent, Spent, dollars};
pub use run::{Outcome, TurnSpec, run_turn, unit_name};
pub use sessions::{Session, Sessions};

/// What a driver makes of the CLI's output.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TurnEvent {
    /// Text to append to the answer.
    Text { text: String },
    /// A one-line summary of a tool the agent used.
    Tool { summary: String },
    /// The CLI's final answer, when it reports one separately from the text.
    Final { text: String },
    /// The CLI's own session id, to continue the conversation next turn.
    Session { id: String },
    Usage {
        input_tokens: u64,
        output_tokens: u64,
        cost_usd: Option<f64>,
    },
    /// An error the CLI reported, or one in running it.
    Error { message: String },
    /// Something the mayor should know that is not an error (a tool not run, a session
    /// that could not be resumed).
    Notice { text: String },
    /// The conversation is busy: this many turns are ahead of this one.
    Queued { ahead: u32 },
}

#[cfg(test)]
mod tests;
