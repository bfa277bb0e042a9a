//! What a resident is doing, as its bot's Matrix presence says it at a glance.

use serde::{Deserialize, Serialize};

/// How many characters of the prompt a status shows.
pub const STATUS_WORDS: usize = 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activity {
    Idle,
    /// A turn runs; `what`: the start of its prompt.
    Working {
        what: String,
    },
    /// A turn waits for an approver.
    WaitingForApproval,
}

impl Activity {
    /// A turn on `prompt`: its first line, cut at STATUS_WORDS characters.
    pub fn working(prompt: &str) -> Self {
        let first = prompt.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let mut what: String = first.trim().chars().take(STATUS_WORDS).collect();
        if what.chars().count() < first.trim().chars().count() {
            what.push('…');
        }
        Activity::Working { what }
    }

    /// The status message a client shows under the bot's name.
    pub fn status(&self) -> String {
        match self {
            Activity::Idle => "idle".into(),
            Activity::Working { what } => format!("working: {what}"),
            Activity::WaitingForApproval => "waiting for approval".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_the_prompts_first_line_cut_short() {
        let long = format!("\n  {}\nsecond line", "x".repeat(100));
        assert_eq!(
            Activity::working(&long).status(),
            format!("working: {}…", "x".repeat(STATUS_WORDS))
        );
        assert_eq!(Activity::working("fix it").status(), "working: fix it");
        assert_eq!(Activity::Idle.status(), "idle");
    }
}
