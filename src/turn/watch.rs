//! The pure observer of one run's events, on their way from the CLI to the room: it picks
//! out the session id, keeps this run's share of the token totals, adds up what the run
//! spent, and, while a resumed session has shown nothing yet, holds back its errors until
//! the end says whether the session was there at all. It decides; the desk does the
//! sending, the sessions file and the ledger.

use super::sessions::Session;
use super::{Spent, TurnEvent};
use crate::config::AgentKind;

pub struct Watch {
    kind: AgentKind,
    /// The resumed session, if any: its id and its token totals before this run.
    resumed: Option<(String, [u64; 2])>,
    /// The last valid session id the CLI reported.
    last: Option<String>,
    /// The session's token totals after this run (codex reports running totals).
    tokens: [u64; 2],
    /// Events held while a resume has not shown it works; None once released.
    held: Option<Vec<TurnEvent>>,
    errors: Vec<String>,
    spent: Spent,
}

/// How the run ended, as the watch saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Watched {
    /// The resumed session was gone: start afresh, and forget the held errors.
    pub lost_session: bool,
    /// Held events that are the room's after all.
    pub release: Vec<TurnEvent>,
    /// The session the conversation continues in (none when lost or never reported).
    pub session: Option<Session>,
    pub spent: Spent,
}

impl Watch {
    pub fn new(kind: AgentKind, resumed: Option<&Session>) -> Self {
        let before = resumed.map_or([0, 0], |s| s.tokens);
        Self {
            kind,
            resumed: resumed.map(|s| (s.id.clone(), s.tokens)),
            last: None,
            tokens: before,
            held: resumed.map(|_| Vec::new()),
            errors: Vec::new(),
            spent: Spent::default(),
        }
    }

    /// Take one event; what goes to the room now, in order.
    pub fn event(&mut self, mut ev: TurnEvent) -> Vec<TurnEvent> {
        let before = self.resumed.as_ref().map_or([0, 0], |(_, t)| *t);
        match &mut ev {
            TurnEvent::Session { id } if super::bounds::session_id_ok(id) => {
                self.last = Some(id.clone())
            }
            TurnEvent::Session { id } => {
                let shown = super::bounds::clip(id, 40).escape_debug().to_string();
                ev = TurnEvent::Error {
                    message: format!(
                        "ignored a session id that is not 1-128 of [A-Za-z0-9._-]: \"{shown}…\""
                    ),
                };
            }
            // codex counts the whole thread: this turn's share is the growth.
            TurnEvent::Usage {
                input_tokens,
                output_tokens,
                ..
            } if super::drivers::usage_is_running_total(self.kind) => {
                self.tokens = [*input_tokens, *output_tokens];
                *input_tokens = input_tokens.saturating_sub(before[0]);
                *output_tokens = output_tokens.saturating_sub(before[1]);
            }
            _ => {}
        }
        if let TurnEvent::Usage {
            input_tokens,
            output_tokens,
            cost_usd,
        } = &ev
        {
            self.spent.add(&Spent {
                turns: 0,
                input_tokens: *input_tokens,
                output_tokens: *output_tokens,
                cost_usd: cost_usd.unwrap_or(0.0),
            });
        }
        if let TurnEvent::Error { message } = &ev {
            self.errors.push(message.clone());
        }
        match (&mut self.held, &ev) {
            (
                Some(held),
                TurnEvent::Error { .. } | TurnEvent::Usage { .. } | TurnEvent::Session { .. },
            ) => {
                held.push(ev);
                vec![]
            }
            (held, _) => {
                let mut now = held.take().unwrap_or_default();
                now.push(ev);
                now
            }
        }
    }

    /// The run ended with `status` and these last stderr lines; `at` is now, in Unix
    /// seconds (the session's last use).
    pub fn end(self, status: i32, stderr_tail: &[String], at: u64) -> Watched {
        // (Not only on failure: claude can exit 0 after saying it has no such session.)
        let lost = self.held.is_some()
            && super::drivers::lost_session(self.kind, status, stderr_tail, &self.errors);
        let resumed_id = self.resumed.as_ref().map(|(id, _)| id.as_str());
        // A new session's total starts from nothing; the same one's grows.
        let tokens = if resumed_id.is_none() || self.last.as_deref() == resumed_id {
            self.tokens
        } else {
            [0, 0]
        };
        let session = self.last.filter(|_| !lost).map(|id| Session {
            id,
            kind: Some(self.kind),
            tokens,
            at,
        });
        Watched {
            lost_session: lost,
            release: if lost {
                vec![]
            } else {
                self.held.unwrap_or_default()
            },
            session,
            spent: self.spent,
        }
    }
}

#[cfg(test)]
mod tests;
