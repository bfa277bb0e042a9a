//! The words the mayor reads in a room, made from what the daemon reports. Here, the words
//! around an answer: how its turn ended, what it spent, its session, and the marks of a
//! message kept, late or interrupted; the answers to commands are in reports.rs, the
//! notices in notices.rs.

mod approvals;
mod checkpoints;
mod history;
mod mode;
mod network;
mod notices;
mod reports;
mod schedules;
mod usage;

use crate::bot::NotRun;
use townhall_config::Budget;
use townhall_wire::hall::{Outcome, Spent, dollars};

pub use approvals::approvals;
pub use checkpoints::{checkpoint_taken, checkpoints, rollback_offer, rolled_back};
pub use history::history;
pub use mode::{mode, mode_line};
pub use network::network;
pub use notices::notice;
pub use reports::{branches, cost, last_turn, reset_done, status, what_a_reset_loses};
pub use schedules::{came, schedules};
pub use usage::{post_chart, usage_totals};

/// The line under an answer: how the turn ended when not plainly, and what went wrong.
pub fn footer(outcome: &Result<Outcome, NotRun>, errors: &[String]) -> Option<String> {
    let mut footer = match outcome {
        Ok(o) if o.stopped => Some("_(stopped)_".to_string()),
        Ok(o) if o.timed_out => Some("_(timed out and stopped)_".to_string()),
        Ok(o) if o.result == "success" => None,
        Ok(o) => Some(format!(
            "_(failed: {} {})_\n```\n{}\n```",
            o.result,
            o.status,
            o.stderr_tail.join("\n")
        )),
        Err(e) => Some(format!("_(could not run: {e})_")),
    };
    // A turn that could not run reports why once, above; the rest are the CLI's own.
    let errors: Vec<&String> = errors
        .iter()
        .filter(|e| !matches!(outcome, Err(NotRun(o)) if o == *e))
        .collect();
    if !errors.is_empty() {
        let e = format!(
            "_{}_",
            errors
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        footer = Some(footer.map_or(e.clone(), |f| format!("{f}\n{e}")));
    }
    footer
}

/// Turns, cost (when the CLI reports one) and tokens.
pub fn spent(s: &Spent) -> String {
    let cost = if s.cost_usd > 0.0 {
        format!("{} · ", dollars(s.cost_usd))
    } else {
        String::new()
    };
    format!(
        "{cost}{} in / {} out tokens · {} turn(s)",
        s.input_tokens, s.output_tokens, s.turns
    )
}

/// Under an answer that cost more than the resident's `[budget] show_from_*`: the turn's
/// spending and its conversation's this round.
pub fn spent_footer(o: &Outcome, b: &Budget) -> Option<String> {
    let turn = o.spent?;
    let shown = if turn.cost_usd > 0.0 {
        turn.cost_usd >= b.show_from_usd
    } else {
        turn.tokens() >= b.show_from_tokens && turn.tokens() > 0
    };
    if !shown {
        return None;
    }
    let conv = o
        .conversation_spent
        .map(|c| format!("; this conversation this round: {}", spent(&c)))
        .unwrap_or_default();
    Some(format!(
        "_this turn: {}{conv}_",
        spent(&Spent { turns: 1, ..turn })
    ))
}

/// What the turn used the town's tools for, on one line ("asked the mayor once, told the
/// mayor 3 times").
pub fn tools_footer(o: &Outcome) -> Option<String> {
    let times = |n: u32| match n {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{n} times"),
    };
    let used: Vec<String> = o
        .tools
        .iter()
        .map(|(what, n)| format!("{what} {}", times(*n)))
        .collect();
    (!used.is_empty()).then(|| format!("_{}_", used.join(", ")))
}

/// The branch of the conversation's own worktree.
pub fn branch_footer(o: &Outcome) -> Option<String> {
    let b = o.branch.as_ref()?;
    Some(format!("_on branch `{b}`, in a worktree of its own_"))
}

/// The session an answer's conversation continues in, and how to pick it up at a terminal.
pub fn session(resident: &str, conversation: &str, id: &str) -> String {
    format!(
        "_session `{id}` · at a terminal: `townhall attach {resident} --conversation '{conversation}'`_"
    )
}

/// The reaction on a message kept for the conversation's next turn.
pub const KEPT: &str = "👀";

/// Said above an answer that waited for the chat to come back.
pub const LATE: &str = "_(this answer waited while townhall restarted)_";
/// Under what a turn had streamed when townhall restarted under it: it runs again.
pub const INTERRUPTED: &str =
    "_(interrupted: townhall restarted; this turn runs again and its answer follows)_";

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(result: &str) -> Outcome {
        Outcome {
            result: result.into(),
            status: 1,
            stopped: false,
            timed_out: false,
            stderr_tail: vec!["boom".into()],
            duration_ms: 5,
            spent: None,
            conversation_spent: None,
            session: None,
            files: vec![],
            files_left: vec![],
            tools: Default::default(),
            branch: None,
        }
    }

    #[test]
    fn the_town_tools_a_turn_used_fit_one_line() {
        let mut o = ended("success");
        assert_eq!(tools_footer(&o), None);
        o.tools = [
            ("asked the mayor".to_string(), 1),
            ("told the mayor".to_string(), 3),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            tools_footer(&o).unwrap(),
            "_asked the mayor once, told the mayor 3 times_"
        );
    }

    #[test]
    fn footers_say_how_a_turn_ended() {
        assert_eq!(footer(&Ok(ended("success")), &[]), None);
        assert!(
            footer(&Ok(ended("exit-code")), &[])
                .unwrap()
                .contains("failed: exit-code 1")
        );
        let e = "queue full".to_string();
        assert_eq!(
            footer(&Err(NotRun(e.clone())), std::slice::from_ref(&e)).unwrap(),
            "_(could not run: queue full)_"
        );
        assert!(
            footer(&Ok(ended("success")), &["rate limited".into()])
                .unwrap()
                .contains("rate limited")
        );
    }

    #[test]
    fn spending_shows_from_the_residents_threshold() {
        let turn = Spent {
            turns: 1,
            input_tokens: 22,
            output_tokens: 10,
            cost_usd: 0.000288,
        };
        let o = Outcome {
            spent: Some(turn),
            conversation_spent: Some(Spent { turns: 2, ..turn }),
            ..ended("success")
        };
        assert_eq!(
            spent_footer(&o, &Budget::default()),
            None,
            "below the default $0.05"
        );
        let low = Budget {
            show_from_usd: 0.0001,
            ..Budget::default()
        };
        let f = spent_footer(&o, &low).unwrap();
        assert!(
            f.starts_with(
                "_this turn: $0.000288 · 22 in / 10 out tokens · 1 turn(s); this conversation"
            ),
            "{f}"
        );
        // Without a cost (codex, gemini) the tokens decide.
        let tokens = Outcome {
            spent: Some(Spent {
                cost_usd: 0.0,
                input_tokens: 60_000,
                ..turn
            }),
            ..o
        };
        assert!(
            spent_footer(&tokens, &Budget::default())
                .unwrap()
                .contains("60000 in / 10 out tokens")
        );
    }
}
