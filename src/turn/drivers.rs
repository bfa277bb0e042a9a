//! One driver per CLI kind: how to invoke it, and how to read each line it prints.
//! Parsers never panic: anything unexpected becomes a `TurnEvent::Error`.

use serde_json::Value;

use super::TurnEvent;
use crate::config::{Agent, AgentKind};

/// The argv to run and what to write to its stdin (prompts never go on the command line,
/// where every local user could read them in /proc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub argv: Vec<String>,
    pub stdin: String,
}

pub fn invocation(agent: &Agent, prompt: &str, session: Option<&str>) -> Invocation {
    let mut argv = agent.argv.clone();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match (agent.kind, session) {
        (AgentKind::Claude, _) => {
            argv.extend(s(&["-p", "--output-format", "stream-json", "--verbose"]));
            if let Some(id) = session {
                argv.extend(s(&["--resume", id]));
            }
        }
        (AgentKind::Codex, None) => argv.extend(s(&["exec", "--json", "-"])),
        (AgentKind::Codex, Some(id)) => argv.extend(s(&["exec", "--json", "resume", id, "-"])),
        (AgentKind::Gemini, _) => {
            argv.extend(s(&["--output-format", "stream-json"]));
            if let Some(id) = session {
                argv.extend(s(&["--resume", id]));
            }
        }
        (AgentKind::Command, _) => {}
    }
    Invocation { argv, stdin: prompt.to_string() }
}

fn bad(kind: AgentKind, line: &str, why: &str) -> Vec<TurnEvent> {
    let shown: String = line.chars().take(120).collect();
    vec![TurnEvent::Error { message: format!("{kind:?} printed a line townhall cannot read ({why}): {shown}") }]
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

fn u64_at(v: &Value, path: &[&str]) -> u64 {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_u64).unwrap_or(0)
}

fn tool_summary(name: &str, input: Option<&Value>) -> String {
    let detail = input
        .and_then(|i| ["command", "file_path", "path", "pattern", "url", "query"].iter().find_map(|k| i.get(k)?.as_str()))
        .map(|d| d.chars().take(80).collect::<String>());
    match detail {
        Some(d) => format!("{name}: {d}"),
        None => name.to_string(),
    }
}

/// Events from one line of the CLI's stdout.
pub fn parse_line(kind: AgentKind, line: &str) -> Vec<TurnEvent> {
    if kind == AgentKind::Command {
        return vec![TurnEvent::Text { text: format!("{line}\n") }];
    }
    let line = line.trim();
    if line.is_empty() {
        return vec![];
    }
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return bad(kind, line, &format!("not JSON: {e}")),
    };
    let Some(ty) = v.get("type").and_then(Value::as_str) else {
        return bad(kind, line, "no \"type\"");
    };
    match kind {
        AgentKind::Claude => claude(ty, &v),
        AgentKind::Codex => codex(ty, &v),
        AgentKind::Gemini => gemini(ty, &v),
        AgentKind::Command => unreachable!("handled above"),
    }
}

/// `claude -p --output-format stream-json --verbose`.
fn claude(ty: &str, v: &Value) -> Vec<TurnEvent> {
    let mut out = Vec::new();
    match ty {
        "system" => {
            if let Some(id) = str_at(v, &["session_id"]) {
                out.push(TurnEvent::Session { id: id.into() });
            }
        }
        "assistant" => {
            let content = v.pointer("/message/content").and_then(Value::as_array).cloned().unwrap_or_default();
            for c in content {
                match c.get("type").and_then(Value::as_str) {
                    Some("text") => out.extend(str_at(&c, &["text"]).map(|t| TurnEvent::Text { text: t.into() })),
                    Some("tool_use") => out.push(TurnEvent::Tool {
                        summary: tool_summary(str_at(&c, &["name"]).unwrap_or("tool"), c.get("input")),
                    }),
                    _ => {}
                }
            }
        }
        "result" => {
            if let Some(id) = str_at(v, &["session_id"]) {
                out.push(TurnEvent::Session { id: id.into() });
            }
            let failed = v.get("is_error").and_then(Value::as_bool).unwrap_or(false)
                || str_at(v, &["subtype"]).is_some_and(|s| s != "success");
            match (failed, str_at(v, &["result"])) {
                (false, Some(r)) => out.push(TurnEvent::Final { text: r.into() }),
                (true, r) => out.push(TurnEvent::Error {
                    message: format!("claude: {}", r.or(str_at(v, &["subtype"])).unwrap_or("the turn failed")),
                }),
                _ => {}
            }
            out.push(TurnEvent::Usage {
                input_tokens: u64_at(v, &["usage", "input_tokens"]),
                output_tokens: u64_at(v, &["usage", "output_tokens"]),
                cost_usd: v.get("total_cost_usd").and_then(Value::as_f64),
            });
        }
        _ => {} // user (tool results), stream_event partials: nothing to show
    }
    out
}

/// `codex exec --json`.
fn codex(ty: &str, v: &Value) -> Vec<TurnEvent> {
    match ty {
        "thread.started" => str_at(v, &["thread_id"]).map(|id| TurnEvent::Session { id: id.into() }).into_iter().collect(),
        "item.completed" => match str_at(v, &["item", "type"]) {
            Some("agent_message") => {
                str_at(v, &["item", "text"]).map(|t| TurnEvent::Text { text: t.into() }).into_iter().collect()
            }
            Some("command_execution") => vec![TurnEvent::Tool {
                summary: tool_summary("shell", v.get("item")),
            }],
            Some("file_change") => vec![TurnEvent::Tool { summary: "edited files".into() }],
            _ => vec![],
        },
        "turn.completed" => vec![TurnEvent::Usage {
            input_tokens: u64_at(v, &["usage", "input_tokens"]),
            output_tokens: u64_at(v, &["usage", "output_tokens"]),
            cost_usd: None,
        }],
        "turn.failed" | "error" => vec![TurnEvent::Error {
            message: format!("codex: {}", str_at(v, &["error", "message"]).or(str_at(v, &["message"])).unwrap_or("the turn failed")),
        }],
        _ => vec![],
    }
}

/// `gemini --output-format stream-json`.
fn gemini(ty: &str, v: &Value) -> Vec<TurnEvent> {
    match ty {
        "init" => str_at(v, &["session_id"]).map(|id| TurnEvent::Session { id: id.into() }).into_iter().collect(),
        "message" if str_at(v, &["role"]) == Some("assistant") => {
            str_at(v, &["content"]).map(|t| TurnEvent::Text { text: t.into() }).into_iter().collect()
        }
        "tool_use" => vec![TurnEvent::Tool {
            summary: tool_summary(str_at(v, &["tool_name"]).unwrap_or("tool"), v.get("parameters")),
        }],
        "result" => {
            let mut out = vec![TurnEvent::Usage {
                input_tokens: u64_at(v, &["stats", "input_tokens"]),
                output_tokens: u64_at(v, &["stats", "output_tokens"]),
                cost_usd: None,
            }];
            if str_at(v, &["status"]).is_some_and(|s| s != "success") {
                let msg = str_at(v, &["error", "message"]).unwrap_or("the turn failed");
                out.push(TurnEvent::Error { message: format!("gemini: {msg}") });
            }
            out
        }
        "error" => vec![TurnEvent::Error { message: format!("gemini: {}", str_at(v, &["message"]).unwrap_or("error")) }],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests;
