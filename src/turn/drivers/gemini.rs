//! `gemini --output-format stream-json` (proven with 0.61.0).

use serde_json::Value;

use super::{Seen, str_at, tool_summary, u64_at};
use crate::turn::TurnEvent;

/// gemini's exit status and words when `--resume` names a session it does not have.
pub const LOST_STATUS: i32 = 42;
/// (`Invalid session identifier "…"`, or `No previous sessions found for this project.`)
pub const LOST: &str = "Error resuming session";

/// Routine stderr lines of every headless turn.
pub const NOISE: &[&str] = &[
    "Warning: 256-color support not detected",
    "YOLO mode is enabled",
    "Ripgrep is not available",
    "[STARTUP] ",
];

pub fn read(ty: &str, v: &Value) -> Vec<Seen> {
    let id = || str_at(v, &["tool_id"]).unwrap_or_default().to_string();
    match ty {
        "init" => str_at(v, &["session_id"])
            .map(|id| Seen::Event(TurnEvent::Session { id: id.into() }))
            .into_iter()
            .collect(),
        // Its own echo of the prompt comes as a `user` message: not answer text.
        "message" if str_at(v, &["role"]) == Some("assistant") => {
            let delta = v.get("delta").and_then(Value::as_bool).unwrap_or(false);
            str_at(v, &["content"])
                .map(|t| {
                    if delta {
                        Seen::Delta(t.into())
                    } else {
                        Seen::Block(t.into())
                    }
                })
                .into_iter()
                .collect()
        }
        "tool_use" => vec![Seen::Asked {
            id: id(),
            summary: tool_summary(
                str_at(v, &["tool_name"]).unwrap_or("tool"),
                v.get("parameters"),
            ),
        }],
        "tool_result" => match str_at(v, &["status"]) {
            Some("success") => vec![Seen::Ran {
                id: id(),
                failed: false,
            }],
            // Not registered (no --yolo), refused by policy, or failed before it ran.
            _ => vec![Seen::Refused {
                id: id(),
                why: str_at(v, &["error", "message"])
                    .or(str_at(v, &["output"]))
                    .unwrap_or("error")
                    .into(),
            }],
        },
        "result" => {
            let mut out = vec![Seen::Event(TurnEvent::Usage {
                input_tokens: u64_at(v, &["stats", "input_tokens"]),
                output_tokens: u64_at(v, &["stats", "output_tokens"]),
                cost_usd: None,
            })];
            if str_at(v, &["status"]).is_some_and(|s| s != "success") {
                let msg = str_at(v, &["error", "message"]).unwrap_or("the turn failed");
                out.push(Seen::Event(TurnEvent::Error {
                    message: format!("gemini: {msg}"),
                }));
            }
            out
        }
        "error" => vec![Seen::Event(TurnEvent::Error {
            message: format!("gemini: {}", str_at(v, &["message"]).unwrap_or("error")),
        })],
        _ => vec![],
    }
}
