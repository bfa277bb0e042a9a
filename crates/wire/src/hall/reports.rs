//! What the daemon reports to the chat for a mayor's question: `!status`, `!cost`,
//! `!branches`, `!reset`'s losses and the reset's summary. The words are the chat's.

use serde::{Deserialize, Serialize};

use super::turn::{RunningTurn, Spent};

/// One repository of the town remote the resident may push to, and its branches there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoBranches {
    pub repo: String,
    pub path: String,
    pub branches: Vec<Branch>,
}

/// A conversation's own worktree this round, in the resident's home.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Worktree {
    pub conversation: String,
    pub branch: String,
    /// Relative to the home.
    pub path: String,
    /// Its uncommitted changes (`git status --porcelain` lines); None when unreadable.
    pub dirty: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    pub name: String,
    pub commit: String,
    pub when: String,
    pub subject: String,
}

/// What `!status` shows of one resident (the words are the chat's).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResidentReport {
    pub resident: String,
    pub round: u64,
    pub uptime_secs: u64,
    pub turns: Vec<RunningTurn>,
    pub processes: usize,
    pub memory_bytes: u64,
    pub cpu_ms: u64,
    pub chat: String,
    pub last_reset: Vec<String>,
    /// Messages waiting for their conversation's next turn.
    #[serde(default)]
    pub waiting: usize,
    /// What its turns spent this round, and its budget.
    #[serde(default)]
    pub spent: Spent,
    #[serde(default)]
    pub budget_usd: Option<f64>,
    #[serde(default)]
    pub budget_tokens: Option<u64>,
    /// The town's round; `round` is the resident's own, which is ahead of it by the
    /// rounds it ended alone.
    #[serde(default)]
    pub town_round: u64,
}

/// What `!cost` shows of one resident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CostReport {
    pub resident: String,
    pub round: u64,
    /// This round's totals; then the asking conversation's share.
    pub spent: Spent,
    pub conversation: Spent,
    /// Earlier rounds kept, newest first.
    pub rounds: Vec<(u64, Spent)>,
    pub budget_usd: Option<f64>,
    pub budget_tokens: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResetSummary {
    /// The round that begins: the resident's own when it was reset alone.
    pub round: u64,
    pub duration_ms: u64,
    pub warnings: Vec<String>,
    /// The resident whose round ended alone; None: the whole town's.
    #[serde(default)]
    pub resident: Option<String>,
}

/// One checkpoint of a resident's home, as `!checkpoints` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    pub n: u64,
    pub label: String,
    pub age_secs: u64,
    /// What it holds; a floor when `whole` is false (the count stopped at its cap).
    pub bytes: u64,
    pub entries: u64,
    pub whole: bool,
}

/// What ending the round would lose of one resident's, one line each (root words them:
/// the same lines the CLI prints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossReport {
    pub resident: String,
    pub lines: Vec<String>,
}
