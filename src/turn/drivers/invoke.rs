//! How each kind is run headless in a resident's home. Two kinds of arguments: those the
//! driver needs to read the output (always), and defaults that make the CLI work there
//! unattended (`[agent] defaults = false` drops them): the resident is the sandbox, so the
//! CLI's own sandbox and approvals are off unless the argv already chooses a mode.

use std::path::Path;

use crate::config::{Agent, AgentKind, KeyScheme};
use townhall_wire::hall::Mode;

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
pub const GEMINI_DEFAULTS: &str =
    "{\"security\":{\"auth\":{\"selectedType\":\"gemini-api-key\"}}}\n";

/// The name the daemon publishes GEMINI_DEFAULTS under (public.rs).
pub const GEMINI_DEFAULTS_NAME: &str = "gemini-defaults.json";

/// Where the daemon publishes GEMINI_DEFAULTS: gemini skips a defaults file in a
/// directory others may write to, so it is root's and read-only.
pub fn gemini_defaults() -> std::path::PathBuf {
    Path::new(crate::public::DIR).join(GEMINI_DEFAULTS_NAME)
}

fn has(argv: &[String], flags: &[&str]) -> bool {
    argv.iter().any(|a| {
        flags
            .iter()
            .any(|f| a == f || a.starts_with(&format!("{f}=")))
    })
}

/// The kind's flags for running without anyone to approve (the resident is the sandbox),
/// unless defaults are off or the argv already picks a mode.
fn unattended(agent: &Agent) -> Option<&'static str> {
    let chosen: &[&str] = match agent.kind {
        AgentKind::Claude => &["--dangerously-skip-permissions", "--permission-mode"],
        AgentKind::Codex => &[
            "-s",
            "--sandbox",
            "--full-auto",
            "--dangerously-bypass-approvals-and-sandbox",
            "-a",
            "--ask-for-approval",
        ],
        AgentKind::Gemini => &["--yolo", "-y", "--approval-mode"],
        AgentKind::Command => return None,
    };
    if !agent.defaults || has(&agent.argv, chosen) {
        return None;
    }
    Some(match agent.kind {
        AgentKind::Claude => "--dangerously-skip-permissions",
        AgentKind::Codex => "--dangerously-bypass-approvals-and-sandbox",
        // Without it headless gemini has no shell or edit tools at all.
        _ => "--yolo",
    })
}

/// codex ignores OPENAI_BASE_URL; a provider of its own, on plain HTTP streaming (not its
/// WebSocket transport), reads the key from CODEX_API_KEY.
fn codex_provider(url: &str) -> Vec<String> {
    let settings = [
        "model_provider=\"townhall\"".to_string(),
        "model_providers.townhall.name=\"townhall\"".into(),
        format!("model_providers.townhall.base_url=\"{url}\""),
        "model_providers.townhall.env_key=\"CODEX_API_KEY\"".into(),
        "model_providers.townhall.wire_api=\"responses\"".into(),
    ];
    settings
        .into_iter()
        .flat_map(|c| ["-c".to_string(), c])
        .collect()
}

/// What a CLI sends the gate for a key: worth nothing anywhere, and nothing at the gate
/// either, which knows the caller by its uid.
pub const PLACEHOLDER: &str = "townhall-gate-placeholder";

/// The variable a kind's CLI reads its key from, for the way its API takes it.
fn key_variable(kind: AgentKind, key: KeyScheme) -> Option<&'static str> {
    match (kind, key) {
        (AgentKind::Claude, KeyScheme::XApiKey) => Some("ANTHROPIC_API_KEY"),
        (AgentKind::Claude, KeyScheme::Bearer) => Some("ANTHROPIC_AUTH_TOKEN"),
        (AgentKind::Codex, _) => Some("CODEX_API_KEY"),
        (AgentKind::Gemini, _) => Some("GEMINI_API_KEY"),
        _ => None,
    }
}

/// The environment the kind needs, before the resident's own.
fn environment(agent: &Agent, home: &Path) -> Vec<(String, String)> {
    let mut env = Vec::new();
    // Through the gate: a placeholder where the CLI looks for its key.
    if let Some(api) = &agent.api
        && let Some(var) = key_variable(agent.kind, api.key)
    {
        env.push((var.to_string(), PLACEHOLDER.to_string()));
    }
    // Tools (git, npm, pip, cargo) reach `[network] allow` through the gate's proxy; the
    // gate itself, on loopback, is reached directly.
    if let Some(proxy) = &agent.proxy {
        env.extend(crate::config::proxy_environment(proxy));
    }
    let url = agent.base_url.as_deref();
    match agent.kind {
        AgentKind::Claude => {
            env.extend(url.map(|u| ("ANTHROPIC_BASE_URL".to_string(), u.to_string())))
        }
        AgentKind::Gemini => {
            env.extend(url.map(|u| ("GOOGLE_GEMINI_BASE_URL".to_string(), u.to_string())));
            if agent.defaults {
                let gitconfig = home.join(".gitconfig").display().to_string();
                env.extend([
                    // It asks before working in a folder it was not told to trust.
                    ("GEMINI_CLI_TRUST_WORKSPACE".to_string(), "true".to_string()),
                    (
                        "GEMINI_CLI_SYSTEM_DEFAULTS_PATH".into(),
                        gemini_defaults().display().to_string(),
                    ),
                    // Its shell tool sets GIT_CONFIG_GLOBAL=/dev/null but keeps GIT_CONFIG_*
                    // pairs (adding its own after ours): the home's identity and signing
                    // config come back as an include.
                    ("GIT_CONFIG_COUNT".into(), "1".into()),
                    ("GIT_CONFIG_KEY_0".into(), "include.path".into()),
                    ("GIT_CONFIG_VALUE_0".into(), gitconfig),
                ]);
            }
        }
        AgentKind::Codex | AgentKind::Command => {}
    }
    env
}

/// A headless turn in `mode`: the prompt on stdin, output the driver reads.
pub fn invocation(
    agent: &Agent,
    prompt: &str,
    session: Option<&str>,
    home: &Path,
    mode: &Mode,
) -> Invocation {
    let mut argv = super::modes::argv_for(agent.kind, &agent.argv, mode);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // Plan mode is a permission mode: the defaults' must not contradict it.
    let free = unattended(agent).filter(|_| !mode.plan).map(String::from);
    let chosen = super::modes::flags(agent.kind, mode);
    match agent.kind {
        AgentKind::Claude => {
            argv.extend(free);
            argv.extend(s(&["-p", "--output-format", "stream-json", "--verbose"]));
            argv.extend(chosen);
            if let Some(id) = session {
                argv.extend(s(&["--resume", id]));
            }
        }
        AgentKind::Codex => {
            argv.extend(
                agent
                    .base_url
                    .as_deref()
                    .map(codex_provider)
                    .unwrap_or_default(),
            );
            argv.extend(s(&["exec", "--json"]));
            if agent.defaults {
                argv.push("--skip-git-repo-check".into());
            }
            argv.extend(free);
            argv.extend(chosen);
            if let Some(id) = session {
                argv.extend(s(&["resume", id]));
            }
            argv.push("-".into());
        }
        AgentKind::Gemini => {
            argv.extend(s(&["--output-format", "stream-json"]));
            argv.extend(free);
            argv.extend(chosen);
            if let Some(id) = session {
                argv.extend(s(&["--resume", id]));
            }
        }
        AgentKind::Command => {}
    }
    Invocation {
        argv,
        stdin: prompt.to_string(),
        environment: environment(agent, home),
    }
}

/// The CLI as a person at a terminal runs it, on `session` (`townhall attach`).
pub fn interactive(agent: &Agent, session: Option<&str>, home: &Path) -> Invocation {
    let mut argv = agent.argv.clone();
    if agent.kind == AgentKind::Codex {
        argv.extend(
            agent
                .base_url
                .as_deref()
                .map(codex_provider)
                .unwrap_or_default(),
        );
        argv.extend(
            session
                .map(|id| ["resume".to_string(), id.to_string()])
                .into_iter()
                .flatten(),
        );
    }
    argv.extend(unattended(agent).map(String::from));
    if matches!(agent.kind, AgentKind::Claude | AgentKind::Gemini)
        && let Some(id) = session
    {
        argv.extend(["--resume".to_string(), id.to_string()]);
    }
    Invocation {
        argv,
        stdin: String::new(),
        environment: environment(agent, home),
    }
}
