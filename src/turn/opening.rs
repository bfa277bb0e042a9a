//! What a turn does before its CLI runs, and after a resume that found its session gone,
//! decided from what the desk knows (the budget and what was spent, `!new`, the session
//! kept and whose CLI made it). Pure: the desk reads the files and does what this says.

use super::Spent;
use super::sessions::Session;
use crate::config::{AgentKind, Budget};

/// How a turn opens.
#[derive(Debug, Clone, PartialEq)]
pub enum Opening {
    /// The round's budget is spent: no turn (what was spent, and the budget, in words).
    OverBudget { spent: String, budget: String },
    /// Run, resuming `resume` if any; `forget` clears the kept session first, and `notice`
    /// tells the room why a session was not resumed.
    Run {
        resume: Option<Session>,
        forget: bool,
        notice: Option<String>,
    },
}

/// Decide how a turn of `kind` opens.
pub fn open(
    budget: &Budget,
    spent: &Spent,
    fresh: bool,
    kept: Option<Session>,
    kind: AgentKind,
) -> Opening {
    if let Some((spent, budget)) = over_budget(budget, spent) {
        return Opening::OverBudget { spent, budget };
    }
    let kept = kept.filter(|_| !fresh);
    match kept {
        // Another CLI's session: this one cannot resume it.
        Some(s) if s.kind.is_some_and(|k| k != kind) => Opening::Run {
            resume: None,
            forget: fresh,
            notice: Some(format!(
                "this conversation's earlier session was {:?}'s, which {kind:?} cannot resume: a fresh session started",
                s.kind.unwrap_or(kind)
            )),
        },
        resume => Opening::Run {
            resume,
            forget: fresh,
            notice: None,
        },
    }
}

/// The resumed session's state was gone (a reset without it persisted, or deleted): the
/// turn runs once more afresh, and the room is told why.
pub fn lost(kind: AgentKind, session: &Session) -> String {
    format!(
        "{kind:?} could not resume this conversation's session {} (its state is gone): a fresh session started",
        session.id
    )
}

/// The spending and the budget, in words, when the round's budget is spent.
pub(super) fn over_budget(b: &Budget, spent: &Spent) -> Option<(String, String)> {
    if let Some(usd) = b.usd
        && spent.cost_usd >= usd
    {
        return Some((
            super::ledger::dollars(spent.cost_usd),
            super::ledger::dollars(usd),
        ));
    }
    match b.tokens {
        Some(t) if spent.tokens() >= t => {
            Some((format!("{} tokens", spent.tokens()), format!("{t} tokens")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(kind: Option<AgentKind>) -> Session {
        Session {
            id: "s1".into(),
            kind,
            tokens: [0, 0],
            at: 0,
        }
    }

    fn spent(usd: f64, tokens: u64) -> Spent {
        Spent {
            turns: 1,
            input_tokens: tokens,
            output_tokens: 0,
            cost_usd: usd,
        }
    }

    #[test]
    fn openings() {
        use AgentKind::{Claude, Codex};
        let none = Budget::default();
        let usd = Budget {
            usd: Some(1.0),
            ..Budget::default()
        };
        let tokens = Budget {
            tokens: Some(100),
            ..Budget::default()
        };
        let run = |resume: Option<Session>, forget, notice: Option<&str>| Opening::Run {
            resume,
            forget,
            notice: notice.map(String::from),
        };
        let cases: Vec<(&str, Opening, Opening)> = vec![
            (
                "no session yet: a fresh one",
                open(&none, &spent(0.0, 0), false, None, Claude),
                run(None, false, None),
            ),
            (
                "its own session resumes",
                open(
                    &none,
                    &spent(0.0, 0),
                    false,
                    Some(session(Some(Claude))),
                    Claude,
                ),
                run(Some(session(Some(Claude))), false, None),
            ),
            (
                "an id kept before kinds were kept is taken to be this CLI's",
                open(&none, &spent(0.0, 0), false, Some(session(None)), Codex),
                run(Some(session(None)), false, None),
            ),
            (
                "!new forgets the session",
                open(
                    &none,
                    &spent(0.0, 0),
                    true,
                    Some(session(Some(Claude))),
                    Claude,
                ),
                run(None, true, None),
            ),
            (
                "another CLI's session is not resumed, and the room is told",
                open(
                    &none,
                    &spent(0.0, 0),
                    false,
                    Some(session(Some(Claude))),
                    Codex,
                ),
                run(
                    None,
                    false,
                    Some(
                        "this conversation's earlier session was Claude's, which Codex cannot resume: a fresh session started",
                    ),
                ),
            ),
            (
                "a spent dollar budget refuses the turn",
                open(&usd, &spent(1.0, 0), false, None, Claude),
                Opening::OverBudget {
                    spent: "$1.00".into(),
                    budget: "$1.00".into(),
                },
            ),
            (
                "a spent token budget refuses the turn",
                open(&tokens, &spent(0.0, 150), false, None, Claude),
                Opening::OverBudget {
                    spent: "150 tokens".into(),
                    budget: "100 tokens".into(),
                },
            ),
            (
                "under budget runs",
                open(&tokens, &spent(0.0, 99), false, None, Claude),
                run(None, false, None),
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
        }
    }
}
