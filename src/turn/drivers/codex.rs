//! `codex exec --json` (proven with 0.171.0).

use serde_json::Value;

use super::{Seen, str_at, tool_summary, u64_at};
use crate::turn::TurnEvent;

/// What codex says when `resume` names a thread it has no rollout for.
pub const LOST: &str = "no rollout found for thread id";

/// Its warning when CODEX_HOME is under a world-writable directory.
pub const NOISE: &[&str] = &["WARNING: proceeding, even though we could not create PATH aliases"];

pub fn read(ty: &str, v: &Value) -> Vec<Seen> {
    let item = |k: &str| str_at(v, &["item", k]);
    let id = || item("id").unwrap_or_default().to_string();
    match ty {
        "thread.started" => str_at(v, &["thread_id"])
            .map(|id| Seen::Event(TurnEvent::Session { id: id.into() }))
            .into_iter()
            .collect(),
        "item.started" if item("type") == Some("command_execution") => {
            vec![Seen::Asked {
                id: id(),
                summary: tool_summary("shell", Some(&shown_command(v))),
            }]
        }
        "item.completed" => match item("type") {
            Some("agent_message") => item("text")
                .map(|t| Seen::Block(t.into()))
                .into_iter()
                .collect(),
            Some("command_execution") => {
                let asked = Seen::Asked {
                    id: id(),
                    summary: tool_summary("shell", Some(&shown_command(v))),
                };
                let ended = match item("status") {
                    Some("declined") => Seen::Refused {
                        id: id(),
                        why: "declined".into(),
                    },
                    _ => Seen::Ran {
                        id: id(),
                        failed: v
                            .pointer("/item/exit_code")
                            .and_then(Value::as_i64)
                            .is_some_and(|c| c != 0),
                    },
                };
                vec![asked, ended]
            }
            Some("file_change") => vec![
                Seen::Asked {
                    id: id(),
                    summary: "edited files".into(),
                },
                Seen::Ran {
                    id: id(),
                    failed: item("status") == Some("failed"),
                },
            ],
            _ => vec![],
        },
        // The thread's running total: the desk makes it the turn's.
        "turn.completed" => vec![Seen::Event(TurnEvent::Usage {
            input_tokens: u64_at(v, &["usage", "input_tokens"]),
            output_tokens: u64_at(v, &["usage", "output_tokens"]),
            cost_usd: None,
        })],
        "error" if str_at(v, &["message"]).is_some_and(|m| m.starts_with("Reconnecting")) => {
            vec![Seen::Transient(
                str_at(v, &["message"]).unwrap_or_default().into(),
            )]
        }
        "turn.failed" | "error" => vec![Seen::Event(TurnEvent::Error {
            message: format!(
                "codex: {}",
                str_at(v, &["error", "message"])
                    .or(str_at(v, &["message"]))
                    .unwrap_or("the turn failed")
            ),
        })],
        _ => vec![],
    }
}

/// The command as the model wrote it, without the `/bin/bash -lc "…"` codex wraps it in.
fn shown_command(v: &Value) -> Value {
    let c = str_at(v, &["item", "command"]).unwrap_or_default();
    let inner = ["/bin/bash -lc ", "bash -lc "]
        .iter()
        .find_map(|p| c.strip_prefix(p))
        .map(|rest| {
            rest.strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .unwrap_or(rest)
        })
        .unwrap_or(c);
    serde_json::json!({ "command": inner })
}
