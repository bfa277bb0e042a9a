//! A conversation's mode: the model, effort and plan mode its turns run with, as `!model`,
//! `!effort` and `!plan` set them.

use serde::{Deserialize, Serialize};

/// None: the CLI's own default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mode {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub effort: Option<String>,
    /// Plan first, change nothing (claude's plan permission mode, or the kind's closest).
    #[serde(default)]
    pub plan: bool,
}

impl Mode {
    pub fn is_default(&self) -> bool {
        *self == Mode::default()
    }
}

/// What a command asks of the mode: nothing (say it), or one part set (None: back to the
/// CLI's default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModeChange {
    Show,
    Model(Option<String>),
    Effort(Option<String>),
    Plan(bool),
}
