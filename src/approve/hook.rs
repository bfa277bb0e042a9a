//! `townhall approve-hook`, claude's PreToolUse hook (gemini's BeforeTool with `--gemini`), running as the resident inside its
//! turn: claude's JSON on stdin, root's decision on stdout. It fails closed: no turn, no
//! socket, no answer, or anything unreadable is a deny.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

use serde_json::Value;

use super::{Answer, Ask, MAX_ASK, SOCKET, TURN_ENV};

/// The decision line for `answer`, in claude's hook output or gemini's.
pub fn decision(answer: &Answer, gemini: bool) -> String {
    let d = if answer.allow { "allow" } else { "deny" };
    if gemini {
        return serde_json::json!({ "decision": d, "reason": answer.reason }).to_string();
    }
    serde_json::json!({ "hookSpecificOutput": { "hookEventName": "PreToolUse", "permissionDecision": d, "permissionDecisionReason": answer.reason } }).to_string()
}

fn ask_root(turn: String, hook_input: &[u8]) -> Result<Answer, String> {
    let v: Value = serde_json::from_slice(hook_input)
        .map_err(|e| format!("claude's hook input is not JSON: {e}"))?;
    let tool = v
        .get("tool_name")
        .and_then(Value::as_str)
        .ok_or("claude's hook input names no tool")?
        .to_string();
    let ask = Ask {
        turn,
        tool,
        input: v.get("tool_input").cloned().unwrap_or(Value::Null),
    };
    let mut line = serde_json::to_vec(&ask).map_err(|e| e.to_string())?;
    if line.len() > MAX_ASK {
        return Err(format!(
            "the tool call is {} bytes, over the {MAX_ASK} an approval may describe",
            line.len()
        ));
    }
    line.push(b'\n');
    let mut s = UnixStream::connect(SOCKET)
        .map_err(|e| format!("townhall is not answering on {SOCKET}: {e}"))?;
    s.write_all(&line).map_err(|e| e.to_string())?;
    let mut answer = String::new();
    BufReader::new(s)
        .take(64 * 1024)
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&answer).map_err(|e| format!("townhall's answer is unreadable: {e}"))
}

/// Read the hook input, ask, print the decision.
pub fn run(stdin: &mut impl Read, stdout: &mut impl Write, gemini: bool) -> std::io::Result<()> {
    let mut input = Vec::new();
    stdin.take(MAX_ASK as u64 * 2).read_to_end(&mut input)?;
    let answer = match std::env::var(TURN_ENV) {
        Ok(turn) => ask_root(turn, &input).unwrap_or_else(|why| Answer {
            allow: false,
            reason: format!("denied: {why}"),
        }),
        Err(_) => Answer {
            allow: false,
            reason: format!("denied: no {TURN_ENV} (not a townhall turn)"),
        },
    };
    writeln!(stdout, "{}", decision(&answer, gemini))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decision_is_claudes_hook_output_and_failures_deny() {
        let yes = Answer {
            allow: true,
            reason: "allowed by @mayor".into(),
        };
        let d: Value = serde_json::from_str(&decision(&yes, false)).unwrap();
        assert_eq!(d["hookSpecificOutput"]["permissionDecision"], "allow");
        let g: Value = serde_json::from_str(&decision(
            &Answer {
                allow: false,
                ..yes
            },
            true,
        ))
        .unwrap();
        assert_eq!(
            (g["decision"].as_str(), g["reason"].as_str()),
            (Some("deny"), Some("allowed by @mayor"))
        );
        assert_eq!(d["hookSpecificOutput"]["hookEventName"], "PreToolUse");
        assert!(
            ask_root("t".into(), b"not json")
                .unwrap_err()
                .contains("not JSON")
        );
        assert!(
            ask_root("t".into(), b"{}")
                .unwrap_err()
                .contains("names no tool")
        );
    }
}
