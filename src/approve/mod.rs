//! Approvals: tool calls a resident's config says need the mayor's yes. claude asks its
//! PreToolUse hook before each call (gemini its BeforeTool hook); townhall makes that hook `townhall approve-hook`,
//! which asks root over /run/townhall-approve.sock; root asks the turn's room, and a
//! mayor's ✅ or ❌ reaction (or the timeout: no) decides.
//!
//! The hook runs as the resident, so approvals hold a working agent to the mayor's rules;
//! a resident that is hostile already has its own uid's whole reach, approvals or not.

pub mod hook;

use serde::{Deserialize, Serialize};
use serde_json::Value;
pub use townhall_config::rule::{Rule, parse};

pub const SOCKET: &str = "/run/townhall-approve.sock";
/// The turn's unit, so root knows which turn (and room) asks.
pub const TURN_ENV: &str = "TOWNHALL_TURN";
/// The longest hook request root reads: a tool call's input, bounded.
pub const MAX_ASK: usize = 64 * 1024;

/// Rules name claude's tools; gemini's own names for the same ones.
const GEMINI: [(&str, &str); 5] = [
    ("Bash", "run_shell_command"),
    ("Write", "write_file"),
    ("Edit", "replace"),
    ("Read", "read_file"),
    ("WebFetch", "web_fetch"),
];

/// The rule name of a tool as either CLI calls it.
pub fn canonical(tool: &str) -> &str {
    GEMINI
        .iter()
        .find(|(_, g)| *g == tool)
        .map_or(tool, |(c, _)| c)
}

/// What a rule's glob is matched against: a command, a file, a URL; else the input as JSON.
pub fn subject(tool: &str, input: &Value) -> String {
    let fields: &[&str] = match canonical(tool) {
        "Bash" => &["command"],
        "Read" | "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => &["file_path", "absolute_path"],
        "WebFetch" => &["url", "prompt"],
        _ => &[],
    };
    match fields
        .iter()
        .find_map(|f| input.get(*f).and_then(Value::as_str))
    {
        Some(s) => s.to_string(),
        None => input.to_string(),
    }
}

/// The first rule the call falls under.
pub fn needs<'r>(rules: &'r [Rule], tool: &str, input: &Value) -> Option<&'r Rule> {
    let s = subject(tool, input);
    let tool = canonical(tool);
    rules.iter().find(|r| {
        r.tool == tool
            && r.pattern
                .as_ref()
                .is_none_or(|p| glob::Pattern::new(p).is_ok_and(|g| g.matches(&s)))
    })
}

/// gemini's system settings (they override the resident's own): a `BeforeTool` hook on
/// gemini's names for the tools the rules name.
pub fn gemini_settings(rules: &[Rule], timeout: std::time::Duration, hook: &str) -> String {
    let mut tools: Vec<&str> = rules
        .iter()
        .map(|r| {
            GEMINI
                .iter()
                .find(|(c, _)| *c == r.tool)
                .map_or(r.tool.as_str(), |(_, g)| g)
        })
        .collect();
    tools.sort();
    tools.dedup();
    let ms = (timeout.as_secs() + 30) * 1000;
    let hooks = serde_json::json!({ "type": "command", "command": format!("{hook} approve-hook --gemini"), "timeout": ms });
    serde_json::json!({ "hooks": { "BeforeTool": [{ "matcher": tools.join("|"), "hooks": [hooks] }] } }).to_string()
}

/// claude's `--settings`: the hook on exactly the tools the rules name, waiting a little
/// longer than root does (root's timeout answers no first).
pub fn claude_settings(rules: &[Rule], timeout: std::time::Duration, hook: &str) -> String {
    let mut tools: Vec<&str> = rules.iter().map(|r| r.tool.as_str()).collect();
    tools.sort();
    tools.dedup();
    let hooks = serde_json::json!({ "type": "command", "command": format!("{hook} approve-hook"), "timeout": timeout.as_secs() + 30 });
    serde_json::json!({ "hooks": { "PreToolUse": [{ "matcher": tools.join("|"), "hooks": [hooks] }] } }).to_string()
}

/// What the hook asks root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ask {
    pub turn: String,
    pub tool: String,
    pub input: Value,
}

/// Root's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub allow: bool,
    pub reason: String,
}

impl townhall_wire::lines::Answer for Answer {
    fn refusal(message: String) -> Self {
        Answer {
            allow: false,
            reason: message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_match_a_tools_subject_by_glob() {
        let rules: Vec<Rule> = ["Bash(git push*)", "Bash(rm *)", "Write"]
            .iter()
            .map(|r| parse(r).unwrap())
            .collect();
        assert_eq!(
            needs(&rules, "Bash", &json!({"command": "git push origin main"}))
                .map(|r| r.to_string()),
            Some("Bash(git push*)".into())
        );
        assert_eq!(
            needs(&rules, "Bash", &json!({"command": "git status"})),
            None
        );
        assert_eq!(
            needs(&rules, "Write", &json!({"file_path": "/x"})).map(|r| r.to_string()),
            Some("Write".into())
        );
        assert_eq!(needs(&rules, "Read", &json!({"file_path": "/x"})), None);
    }

    #[test]
    fn gemini_calls_the_same_tools_by_its_own_names() {
        let rules: Vec<Rule> = ["Bash(git push*)", "Write"]
            .iter()
            .map(|r| parse(r).unwrap())
            .collect();
        assert!(
            needs(
                &rules,
                "run_shell_command",
                &json!({"command": "git push", "description": "x"})
            )
            .is_some()
        );
        assert!(needs(&rules, "write_file", &json!({"file_path": "/x"})).is_some());
        let s: Value = serde_json::from_str(&gemini_settings(
            &rules,
            std::time::Duration::from_secs(60),
            "/t",
        ))
        .unwrap();
        let hook = &s["hooks"]["BeforeTool"][0];
        assert_eq!(hook["matcher"], "run_shell_command|write_file");
        assert_eq!(
            (
                hook["hooks"][0]["command"].as_str(),
                hook["hooks"][0]["timeout"].as_u64()
            ),
            (Some("/t approve-hook --gemini"), Some(90_000))
        );
    }

    #[test]
    fn claude_gets_one_hook_on_the_named_tools() {
        let rules: Vec<Rule> = ["Bash(git push*)", "Write", "Bash(rm *)"]
            .iter()
            .map(|r| parse(r).unwrap())
            .collect();
        let s: Value = serde_json::from_str(&claude_settings(
            &rules,
            std::time::Duration::from_secs(60),
            "/usr/local/bin/townhall",
        ))
        .unwrap();
        let pre = &s["hooks"]["PreToolUse"][0];
        assert_eq!(pre["matcher"], "Bash|Write");
        assert_eq!(
            pre["hooks"][0]["command"],
            "/usr/local/bin/townhall approve-hook"
        );
        assert_eq!(pre["hooks"][0]["timeout"], 90);
    }

    #[test]
    fn a_gemini_turn_is_armed_through_a_published_settings_file() {
        let mut town = crate::testing::demo_town();
        let ada = town.residents.iter_mut().find(|r| r.name == "ada").unwrap();
        ada.agent.kind = crate::config::AgentKind::Gemini;
        ada.agent.approve = vec![parse("Bash(git push*)").unwrap()];
        let public = crate::public::FakePublic::default();
        let mut inv = crate::turn::Invocation {
            argv: vec!["gemini".into()],
            stdin: String::new(),
            environment: vec![],
        };
        crate::tools::declare::arm(&mut inv, ada, "townhall-turn-x.service", "t0k", &public)
            .unwrap();
        let published = public.published.lock().unwrap();
        let settings: Value = serde_json::from_str(&published["gemini-town-ada.json"]).unwrap();
        assert!(settings["hooks"].is_object(), "{settings}");
        assert!(settings["mcpServers"]["town"].is_object(), "{settings}");
        assert!(inv.environment.contains(&(
            "GEMINI_CLI_SYSTEM_SETTINGS_PATH".into(),
            "/srv/townhall/gemini-town-ada.json".into()
        )));
        assert!(
            inv.environment
                .contains(&(TURN_ENV.into(), "townhall-turn-x.service".into()))
        );
        assert_eq!(
            inv.argv,
            ["gemini"],
            "gemini is armed by its settings file only"
        );
    }
}
