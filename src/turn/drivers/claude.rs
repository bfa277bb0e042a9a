//! `claude -p --output-format stream-json --verbose` (proven with 2.1.332).

use serde_json::Value;

use super::{Seen, str_at, tool_summary, u64_at};
use crate::turn::TurnEvent;

/// What claude says when `--resume` names a session it does not have.
pub const LOST: &str = "No conversation found with session ID";

/// Its warnings when ~/.claude.json (kept beside ~/.claude, not in it) is new this round.
pub const NOISE: &[&str] = &[
    "Claude configuration file not found at:",
    "A backup file exists at:",
    "You can manually restore it by running:",
];

pub fn read(ty: &str, v: &Value) -> Vec<Seen> {
    let mut out = Vec::new();
    match (ty, str_at(v, &["subtype"])) {
        ("system", Some("permission_denied")) => out.push(Seen::Refused {
            id: str_at(v, &["tool_use_id"]).unwrap_or_default().into(),
            why: str_at(v, &["decision_reason"])
                .or(str_at(v, &["message"]))
                .unwrap_or("permission denied")
                .into(),
        }),
        ("system", _) => {
            if let Some(id) = str_at(v, &["session_id"]) {
                out.push(Seen::Event(TurnEvent::Session { id: id.into() }));
            }
        }
        ("assistant", _) => {
            for c in blocks(v, "/message/content") {
                match c.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        out.extend(str_at(&c, &["text"]).map(|t| Seen::Block(t.into())))
                    }
                    Some("tool_use") => out.push(Seen::Asked {
                        id: str_at(&c, &["id"]).unwrap_or_default().into(),
                        summary: tool_summary(
                            str_at(&c, &["name"]).unwrap_or("tool"),
                            c.get("input"),
                        ),
                    }),
                    _ => {}
                }
            }
        }
        // A result is a run tool; a refused one was announced by `permission_denied` first.
        ("user", _) => {
            for c in blocks(v, "/message/content")
                .iter()
                .filter(|c| c["type"] == "tool_result")
            {
                let failed = c.get("is_error").and_then(Value::as_bool).unwrap_or(false);
                out.push(Seen::Ran {
                    id: str_at(c, &["tool_use_id"]).unwrap_or_default().into(),
                    failed,
                });
            }
        }
        ("result", subtype) => {
            if let Some(id) = str_at(v, &["session_id"]) {
                out.push(Seen::Event(TurnEvent::Session { id: id.into() }));
            }
            let failed = v.get("is_error").and_then(Value::as_bool).unwrap_or(false)
                || subtype.is_some_and(|s| s != "success");
            let errors: Vec<&str> = v
                .get("errors")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            match (failed, str_at(v, &["result"])) {
                (false, Some(r)) => out.push(Seen::Event(TurnEvent::Final { text: r.into() })),
                (true, r) => {
                    let why = if errors.is_empty() {
                        r.or(subtype).unwrap_or("the turn failed").to_string()
                    } else {
                        errors.join("; ")
                    };
                    out.push(Seen::Event(TurnEvent::Error {
                        message: format!("claude: {why}"),
                    }));
                }
                _ => {}
            }
            out.push(Seen::Event(TurnEvent::Usage {
                input_tokens: u64_at(v, &["usage", "input_tokens"]),
                output_tokens: u64_at(v, &["usage", "output_tokens"]),
                cost_usd: v.get("total_cost_usd").and_then(Value::as_f64),
            }));
        }
        _ => {} // stream_event partials, rate-limit notes: nothing to show
    }
    out
}

fn blocks(v: &Value, at: &str) -> Vec<Value> {
    v.pointer(at)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}
