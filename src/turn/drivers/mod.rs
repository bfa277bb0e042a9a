//! One driver per CLI kind: how to invoke it, and how to read what it prints. A `Reader`
//! reads one turn: it keeps what a single line cannot say (whether a tool the model asked
//! for ran, where one text block ends). Nothing a CLI prints can make it panic, and a line
//! it does not know is skipped (logged at debug), never shown to the mayor as an error.

mod claude;
mod codex;
mod gemini;
mod invoke;
mod limit;
mod modes;

use std::collections::HashMap;

use serde_json::Value;

pub use invoke::{
    GEMINI_DEFAULTS, GEMINI_DEFAULTS_NAME, Invocation, gemini_defaults, interactive, invocation,
};
pub use limit::{Limit, limit, next_local};

use super::TurnEvent;
use crate::config::AgentKind;

/// What one line says, before the reader knows the rest of the turn.
#[derive(Debug)]
enum Seen {
    /// A whole text block.
    Block(String),
    /// A piece of the current text block (streamed).
    Delta(String),
    /// The model asked for a tool: shown only once it has run.
    Asked {
        id: String,
        summary: String,
    },
    Ran {
        id: String,
        failed: bool,
    },
    Refused {
        id: String,
        why: String,
    },
    /// A retry the CLI makes by itself (the turn goes on).
    Transient(String),
    Event(TurnEvent),
}

/// Tool calls waiting for their result, at most: a CLI asking for more is not remembered.
const MAX_PENDING_TOOLS: usize = 256;

pub struct Reader {
    kind: AgentKind,
    pending: HashMap<String, String>,
    /// Text blocks begun so far, and whether the last thing read continues one.
    blocks: usize,
    open_delta: bool,
    unreadable: usize,
    shown: bool,
    retries: usize,
}

/// Retries logged at info per turn; a CLI printing more is not let flood the journal.
const LOGGED_RETRIES: usize = 10;

impl Reader {
    pub fn new(kind: AgentKind) -> Self {
        Self {
            kind,
            pending: HashMap::new(),
            blocks: 0,
            open_delta: false,
            unreadable: 0,
            shown: false,
            retries: 0,
        }
    }

    /// Events from one line of the CLI's stdout.
    pub fn line(&mut self, line: &str) -> Vec<TurnEvent> {
        if self.kind == AgentKind::Command {
            self.shown = true;
            return vec![TurnEvent::Text {
                text: format!("{line}\n"),
            }];
        }
        let line = line.trim();
        if line.is_empty() {
            return vec![];
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return self.unreadable(line, &format!("not JSON: {e}")),
        };
        let Some(ty) = v.get("type").and_then(Value::as_str) else {
            return self.unreadable(line, "no \"type\"");
        };
        let seen = match self.kind {
            AgentKind::Claude => claude::read(ty, &v),
            AgentKind::Codex => codex::read(ty, &v),
            AgentKind::Gemini => gemini::read(ty, &v),
            AgentKind::Command => unreachable!("handled above"),
        };
        if seen.is_empty() {
            tracing::debug!(kind = ?self.kind, "skipped a `{ty}` line");
        }
        seen.into_iter().filter_map(|s| self.take(s)).collect()
    }

    /// After the last line: a turn that showed nothing says what it skipped.
    pub fn finish(&mut self) -> Vec<TurnEvent> {
        match (self.shown, self.unreadable) {
            (false, n) if n > 0 => vec![TurnEvent::Notice {
                text: format!(
                    "{:?} printed {n} line(s) townhall could not read and nothing else; the daemon's journal has them at debug level",
                    self.kind
                ),
            }],
            _ => vec![],
        }
    }

    fn unreadable(&mut self, line: &str, why: &str) -> Vec<TurnEvent> {
        self.unreadable += 1;
        tracing::debug!(kind = ?self.kind, "skipped a line townhall cannot read ({why}): {}", super::bounds::clip(line, 200));
        vec![]
    }

    fn text(&mut self, text: String, delta: bool) -> TurnEvent {
        // A new block after an earlier one starts a new paragraph.
        let continues = delta && self.open_delta;
        self.open_delta = delta;
        self.shown = true;
        if continues {
            return TurnEvent::Text { text };
        }
        self.blocks += 1;
        let sep = if self.blocks > 1 { "\n\n" } else { "" };
        TurnEvent::Text {
            text: format!("{sep}{text}"),
        }
    }

    fn take(&mut self, seen: Seen) -> Option<TurnEvent> {
        match seen {
            Seen::Block(t) => Some(self.text(t, false)),
            Seen::Delta(t) => Some(self.text(t, true)),
            Seen::Asked { id, summary } => {
                self.open_delta = false;
                if self.pending.len() < MAX_PENDING_TOOLS {
                    self.pending.insert(id, summary);
                }
                None
            }
            Seen::Ran { id, failed } => {
                let summary = self.pending.remove(&id)?;
                self.shown = true;
                Some(TurnEvent::Tool {
                    summary: if failed {
                        format!("{summary} (failed)")
                    } else {
                        summary
                    },
                })
            }
            Seen::Refused { id, why } => {
                let summary = self.pending.remove(&id).unwrap_or_else(|| "a tool".into());
                let why = super::bounds::clip(&why, 300);
                Some(TurnEvent::Notice {
                    text: format!("not run: {summary} ({why})"),
                })
            }
            Seen::Transient(what) => {
                self.retries += 1;
                let what = super::bounds::clip(&what, 300);
                if self.retries <= LOGGED_RETRIES {
                    tracing::info!(kind = ?self.kind, "the CLI retries: {what}");
                } else {
                    tracing::debug!(kind = ?self.kind, "the CLI retries: {what}");
                }
                None
            }
            Seen::Event(e) => {
                if matches!(e, TurnEvent::Final { .. }) {
                    self.shown = true;
                }
                Some(e)
            }
        }
    }
}

/// Routine stderr lines of a CLI, kept out of the journal at info and out of `!log`.
pub fn stderr_noise(kind: AgentKind, line: &str) -> bool {
    let known: &[&str] = match kind {
        AgentKind::Gemini => gemini::NOISE,
        AgentKind::Codex => codex::NOISE,
        AgentKind::Claude => claude::NOISE,
        AgentKind::Command => &[],
    };
    line.trim().is_empty() || known.iter().any(|k| line.starts_with(k))
}

/// Whether a resumed turn failed because the CLI no longer has that session (its state
/// was lost, or the id belongs to another CLI): the turn can start afresh instead.
pub fn lost_session(kind: AgentKind, status: i32, stderr: &[String], errors: &[String]) -> bool {
    let said = |needle: &str| stderr.iter().chain(errors).any(|l| l.contains(needle));
    match kind {
        AgentKind::Claude => said(claude::LOST),
        AgentKind::Codex => said(codex::LOST),
        AgentKind::Gemini => status == gemini::LOST_STATUS && said(gemini::LOST),
        AgentKind::Command => false,
    }
}

/// Whether this kind reports usage as the session's running total (not per turn).
pub fn usage_is_running_total(kind: AgentKind) -> bool {
    kind == AgentKind::Codex
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
}

fn u64_at(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn tool_summary(name: &str, input: Option<&Value>) -> String {
    let detail = input
        .and_then(|i| {
            ["command", "file_path", "path", "pattern", "url", "query"]
                .iter()
                .find_map(|k| i.get(k)?.as_str())
        })
        .map(|d| d.chars().take(80).collect::<String>());
    match detail {
        Some(d) => format!("{name}: {d}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests;
