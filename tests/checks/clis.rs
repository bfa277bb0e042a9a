//! The real agent CLIs (issue 14): installed from npm at the versions pinned in
//! tests/town/agents/package.json, and runnable by a resident inside the town.

use anyhow::{Context, ensure};

use crate::support::town::{Town, repo};

/// The pinned version of each CLI, from the same file the installer reads.
fn pins() -> anyhow::Result<Vec<(&'static str, String)>> {
    let text = std::fs::read_to_string(repo().join("tests/town/agents/package.json"))?;
    let deps: serde_json::Value = serde_json::from_str::<serde_json::Value>(&text)?["dependencies"].clone();
    [("claude", "@anthropic-ai/claude-code"), ("codex", "@openai/codex"), ("gemini", "@google/gemini-cli")]
        .into_iter()
        .map(|(cli, package)| Ok((cli, deps[package].as_str().with_context(|| format!("{package} is not pinned"))?.to_string())))
        .collect()
}

pub fn the_pinned_agent_clis_run_as_a_resident(t: &Town) -> anyhow::Result<()> {
    for (cli, version) in pins()? {
        let out = t.as_user("ada", &format!("cd && {cli} --version"));
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        ensure!(out.status.success(), "`{cli} --version` as ada failed ({}): {stdout}{stderr}", out.status);
        ensure!(stdout.contains(&version), "`{cli} --version` as ada says {stdout:?}, not the pinned {version}");
    }
    // Read-only for residents: a resident cannot change the CLI another one runs.
    let out = t.as_user("ada", "touch /opt/townhall-agents/node_modules/.bin/planted");
    ensure!(!out.status.success(), "ada could write into the shared agent CLIs");
    Ok(())
}
