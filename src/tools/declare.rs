//! The town's MCP server declared to each kind the way that kind reads it, beside the
//! approval hooks (src/approve): claude's `--mcp-config` and `--settings`, codex's `-c`
//! overrides, gemini's system settings (published world-readable: nothing in them is
//! secret). The turn's token is only ever in the turn's environment.

use std::time::Duration;

use serde_json::json;

use super::{SERVER, TOKEN_ENV};
use crate::config::{AgentKind, Resident};
use crate::os::OsError;
use crate::turn::Invocation;

/// How long a CLI waits for one tool call: root answers a question to the mayor within the
/// resident's `approve_timeout`, and another resident's answer within its own turn's
/// timeout, so a little longer than the longer of the two.
fn tool_wait(r: &Resident) -> Duration {
    r.agent.approve_timeout.max(r.limits.turn_timeout) + Duration::from_secs(60)
}

/// claude's `--mcp-config`: the town's server, started as `townhall mcp`; its tools always
/// in the prompt (claude 2.1 otherwise defers MCP tools behind its tool search, and an agent
/// that never searches never learns it may ask the mayor), and a call may wait `wait`.
pub fn claude_config(exe: &str, wait: Duration) -> String {
    json!({ "mcpServers": { SERVER: {
        "type": "stdio",
        "command": exe,
        "args": ["mcp"],
        "alwaysLoad": true,
        "timeout": wait.as_millis() as u64,
    } } })
    .to_string()
}

/// codex's `-c` overrides for the town's server, placed before its subcommand.
pub fn codex_overrides(exe: &str, wait: Duration) -> Vec<String> {
    let exe = serde_json::to_string(exe).expect("a string");
    [
        format!("mcp_servers.{SERVER}.command={exe}"),
        format!("mcp_servers.{SERVER}.args=[\"mcp\"]"),
        format!("mcp_servers.{SERVER}.env_vars=[\"{TOKEN_ENV}\"]"),
        format!("mcp_servers.{SERVER}.tool_timeout_sec={}", wait.as_secs()),
    ]
    .into_iter()
    .flat_map(|c| ["-c".to_string(), c])
    .collect()
}

/// gemini's system settings for one resident: the town's server, trusted (its calls are
/// the town's to check, not the CLI's to confirm), and the approval hooks if rules name any.
pub fn gemini_settings(r: &Resident, exe: &str) -> String {
    let mut settings = match r.agent.approve.is_empty() {
        true => json!({}),
        false => serde_json::from_str(&crate::approve::gemini_settings(
            &r.agent.approve,
            r.agent.approve_timeout,
            exe,
        ))
        .expect("the hooks' own JSON"),
    };
    // gemini hands an MCP server only the variables its redaction lets through, and a name
    // with TOKEN in it is redacted: the town's own token is let through to the town's server.
    settings["security"] = json!({ "environmentVariableRedaction": { "allowed": [TOKEN_ENV] } });
    settings["mcpServers"] = json!({ SERVER: {
        "command": exe,
        "args": ["mcp"],
        "trust": true,
        "timeout": tool_wait(r).as_millis() as u64,
    } });
    settings.to_string()
}

/// Give the turn's CLI the town's tools (and its approval hooks): `token` names the turn
/// to root, `unit` names it to the approval hook. codex's overrides go right after the
/// resident's own argv, before its `exec`.
pub fn arm(
    inv: &mut Invocation,
    r: &Resident,
    unit: &str,
    token: &str,
    public: &dyn crate::public::PublicFiles,
) -> Result<(), OsError> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "townhall".into());
    let own = r.agent.argv.len().min(inv.argv.len());
    match r.agent.kind {
        AgentKind::Claude => {
            inv.argv.extend([
                "--mcp-config".to_string(),
                claude_config(&exe, tool_wait(r)),
            ]);
            inv.argv
                .extend(["--allowedTools".to_string(), format!("mcp__{SERVER}")]);
            if !r.agent.approve.is_empty() {
                inv.argv.extend([
                    "--settings".to_string(),
                    crate::approve::claude_settings(
                        &r.agent.approve,
                        r.agent.approve_timeout,
                        &exe,
                    ),
                ]);
            }
        }
        AgentKind::Codex => {
            let overrides = codex_overrides(&exe, tool_wait(r));
            inv.argv.splice(own..own, overrides);
        }
        AgentKind::Gemini => {
            let name = format!("gemini-town-{}.json", r.name);
            public.publish(&name, &gemini_settings(r, &exe))?;
            inv.environment.push((
                "GEMINI_CLI_SYSTEM_SETTINGS_PATH".into(),
                public.path(&name).display().to_string(),
            ));
        }
        AgentKind::Command => {}
    }
    inv.environment.push((TOKEN_ENV.into(), token.into()));
    inv.environment
        .push((crate::approve::TURN_ENV.into(), unit.into()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_told_of_the_server_its_own_way_and_never_of_the_token() {
        let town = crate::testing::demo_town();
        let public = crate::public::FakePublic::default();
        let kinds = [
            AgentKind::Claude,
            AgentKind::Codex,
            AgentKind::Gemini,
            AgentKind::Command,
        ];
        for kind in kinds {
            let mut r = town.residents[0].clone();
            r.agent.kind = kind;
            let r = &r;
            let mut inv = crate::turn::drivers::invocation(
                &r.agent,
                "hi",
                None,
                "/agents/x".as_ref(),
                &Default::default(),
            );
            let before = inv.argv.clone();
            arm(&mut inv, r, "townhall-turn-x", "0123abcd", &public).unwrap();
            let argv = inv.argv.join(" ");
            assert!(
                !argv.contains("0123abcd"),
                "the token on a command line: {argv}"
            );
            assert!(
                inv.environment
                    .contains(&(TOKEN_ENV.to_string(), "0123abcd".to_string()))
            );
            match r.agent.kind {
                AgentKind::Claude => {
                    assert!(argv.contains("--mcp-config") && argv.contains("mcp__town"))
                }
                AgentKind::Codex => {
                    let at = inv.argv.iter().position(|a| a == "exec").unwrap();
                    let c = inv
                        .argv
                        .iter()
                        .position(|a| a.starts_with("mcp_servers.town.command="))
                        .unwrap();
                    assert!(c < at, "codex reads -c before its subcommand: {argv}");
                    assert_eq!(inv.argv.len(), before.len() + 8);
                }
                AgentKind::Gemini => {
                    let path = &inv
                        .environment
                        .iter()
                        .find(|(k, _)| k == "GEMINI_CLI_SYSTEM_SETTINGS_PATH")
                        .unwrap()
                        .1;
                    let name = std::path::Path::new(path)
                        .file_name()
                        .unwrap()
                        .to_str()
                        .unwrap();
                    let s: serde_json::Value =
                        serde_json::from_str(&public.published.lock().unwrap()[name]).unwrap();
                    assert_eq!(s["mcpServers"]["town"]["args"], json!(["mcp"]));
                    assert_eq!(s["mcpServers"]["town"]["trust"], true);
                    assert_eq!(
                        s["security"]["environmentVariableRedaction"]["allowed"],
                        json!([TOKEN_ENV]),
                        "gemini redacts a variable named …TOKEN… unless allowed"
                    );
                }
                AgentKind::Command => assert_eq!(inv.argv, before),
            }
        }
    }
}
