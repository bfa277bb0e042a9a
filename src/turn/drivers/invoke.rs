//! How each kind is run headless in a resident's home. Two kinds of arguments: those the
//! driver needs to read the output (always), and defaults that make the CLI work there
//! unattended (`[agent] defaults = false` drops them): the resident is the sandbox, so the
//! CLI's own sandbox and approvals are off unless the argv already chooses a mode.

use std::path::Path;

use crate::config::{Agent, AgentKind};

/// The argv to run, what to write to its stdin (prompts never go on the command line,
/// where every local user could read them in /proc), and the environment the kind needs
/// (the resident's own `environment` and files override it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub argv: Vec<String>,
    pub stdin: String,
    pub environment: Vec<(String, String)>,
}

/// gemini's system defaults (its lowest-precedence settings; ~/.gemini/settings.json
/// overrides them): headless gemini with `GOOGLE_GEMINI_BASE_URL` picks a "gateway" auth
/// its own check rejects ("Invalid auth method selected") unless the API key is selected.
pub const GEMINI_DEFAULTS: &str = "{\"security\":{\"auth\":{\"selectedType\":\"gemini-api-key\"}}}\n";

/// Where the daemon publishes GEMINI_DEFAULTS: gemini skips a defaults file in a
/// directory others may write to, so it is root's and read-only.
pub fn gemini_defaults() -> std::path::PathBuf {
    Path::new(crate::sign::PUBLIC_DIR).join("gemini-defaults.json")
}

fn has(argv: &[String], flags: &[&str]) -> bool {
    argv.iter().any(|a| flags.iter().any(|f| a == f || a.starts_with(&format!("{f}="))))
}

pub fn invocation(agent: &Agent, prompt: &str, session: Option<&str>, home: &Path) -> Invocation {
    let mut argv = agent.argv.clone();
    let mut env = Vec::new();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let d = agent.defaults;
    let url = agent.base_url.as_deref();
    match agent.kind {
        AgentKind::Claude => {
            let unattended = d && !has(&agent.argv, &["--dangerously-skip-permissions", "--permission-mode"]);
            if unattended {
                argv.push("--dangerously-skip-permissions".into());
            }
            argv.extend(s(&["-p", "--output-format", "stream-json", "--verbose"]));
            if let Some(id) = session {
                argv.extend(s(&["--resume", id]));
            }
            env.extend(url.map(|u| ("ANTHROPIC_BASE_URL".to_string(), u.to_string())));
        }
        AgentKind::Codex => {
            // codex ignores OPENAI_BASE_URL; a provider of its own, on plain HTTP streaming
            // (not its WebSocket transport), reads the key from CODEX_API_KEY.
            if let Some(u) = url {
                for c in [
                    "model_provider=\"townhall\"".to_string(),
                    "model_providers.townhall.name=\"townhall\"".into(),
                    format!("model_providers.townhall.base_url=\"{u}\""),
                    "model_providers.townhall.env_key=\"CODEX_API_KEY\"".into(),
                    "model_providers.townhall.wire_api=\"responses\"".into(),
                ] {
                    argv.extend(["-c".to_string(), c]);
                }
            }
            argv.extend(s(&["exec", "--json"]));
            if d {
                argv.push("--skip-git-repo-check".into());
                let chosen = ["-s", "--sandbox", "--full-auto", "--dangerously-bypass-approvals-and-sandbox", "-a", "--ask-for-approval"];
                if !has(&agent.argv, &chosen) {
                    argv.push("--dangerously-bypass-approvals-and-sandbox".into());
                }
            }
            if let Some(id) = session {
                argv.extend(s(&["resume", id]));
            }
            argv.push("-".into());
        }
        AgentKind::Gemini => {
            argv.extend(s(&["--output-format", "stream-json"]));
            if d && !has(&agent.argv, &["--yolo", "-y", "--approval-mode"]) {
                // Without it headless gemini has no shell or edit tools at all.
                argv.push("--yolo".into());
            }
            if let Some(id) = session {
                argv.extend(s(&["--resume", id]));
            }
            env.extend(url.map(|u| ("GOOGLE_GEMINI_BASE_URL".to_string(), u.to_string())));
            if d {
                let gitconfig = home.join(".gitconfig").display().to_string();
                env.extend([
                    // It asks before working in a folder it was not told to trust.
                    ("GEMINI_CLI_TRUST_WORKSPACE".to_string(), "true".to_string()),
                    ("GEMINI_CLI_SYSTEM_DEFAULTS_PATH".into(), gemini_defaults().display().to_string()),
                    // Its shell tool sets GIT_CONFIG_GLOBAL=/dev/null but keeps GIT_CONFIG_*
                    // pairs (adding its own after ours): the home's identity and signing
                    // config come back as an include.
                    ("GIT_CONFIG_COUNT".into(), "1".into()),
                    ("GIT_CONFIG_KEY_0".into(), "include.path".into()),
                    ("GIT_CONFIG_VALUE_0".into(), gitconfig),
                ]);
            }
        }
        AgentKind::Command => {}
    }
    Invocation { argv, stdin: prompt.to_string(), environment: env }
}
