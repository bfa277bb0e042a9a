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

const ADA: &str = "@ada:town.test";

/// ada on the real claude with her shipped residents/ada.toml, her environment file
/// pointing it at the stand-in with a fake key; both put back when dropped.
struct AdaOnClaude<'a> {
    t: &'a Town,
    toml: String,
    env: String,
}

const ENV_FILE: &str = "/run/secrets/townhall/ada-anthropic.env";

impl<'a> AdaOnClaude<'a> {
    fn set(t: &'a Town, port: u16) -> anyhow::Result<Self> {
        let path = crate::checks::grants::ada_toml(t);
        let toml = std::fs::read_to_string(&path)?;
        let env = t.sh(&format!("cat {ENV_FILE}"))?;
        std::fs::copy(repo().join("residents/ada.toml"), &path)?;
        t.sh(&format!("printf 'ANTHROPIC_BASE_URL=http://127.0.0.1:{port}\\nANTHROPIC_API_KEY=sk-ant-stand-in-not-a-key\\n' > {ENV_FILE} && chown ada {ENV_FILE} && chmod 0400 {ENV_FILE} && townhall reload"))?;
        Ok(Self { t, toml, env })
    }
}

impl Drop for AdaOnClaude<'_> {
    fn drop(&mut self) {
        let _ = std::fs::write(crate::checks::grants::ada_toml(self.t), &self.toml);
        let _ = self.t.sh(&format!("printf '%s' '{}' > {ENV_FILE}; rm -rf /agents/ada/work/claude-proof; townhall reload", self.env.replace('\'', "")));
    }
}

/// The mayor asks ada, on the real claude, in Matrix: the CLI runs as ada in her user
/// manager, runs the Bash tool the model asks for (a commit in her workspace), and the
/// room shows the final answer; the next message resumes the same claude session.
pub fn claude_answers_in_matrix_runs_its_tool_and_resumes(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let api = crate::support::anthropic::Anthropic::start()?;
    let _ada = AdaOnClaude::set(t, api.port)?;
    crate::checks::chat::block_on(async {
        let (mayor, room) = crate::checks::chat::room_with(t, "ada (real claude)", &[ADA], true).await?;
        mayor.say(&room, "please commit a file").await?;
        let said = match mayor.wait_for(&room, ADA, "done: committed-").await {
            Ok(s) => s,
            Err(e) => {
                let asked: Vec<String> = api.requests().iter().take(6).map(|(p, r)| format!("{p} stream={} last={:.300}", r["stream"], r["messages"].as_array().and_then(|m| m.last()).map(|m| m.to_string()).unwrap_or_default())).collect();
                let log = t.journal(&["-u", "townhall", "-n", "40", "--no-pager"]);
                anyhow::bail!("{e}\nthe stand-in was asked:\n{}\ntownhall's journal:\n{log}", asked.join("\n"));
            }
        };
        ensure!(said.iter().all(|(b, _)| !b.contains("cannot read")), "a claude line was not understood: {said:?}");
        mayor.say(&room, "and now?").await?;
        mayor.wait_for(&room, ADA, crate::support::anthropic::GREETING).await?;
        anyhow::Ok(())
    })?;
    // The tool ran as ada, in her workspace: the file and the commit are hers.
    let owner = t.sh("stat -c %U /agents/ada/work/claude-proof/f")?;
    let log = t.as_user("ada", "git -C /agents/ada/work/claude-proof log -1 --format=%s");
    let log = String::from_utf8_lossy(&log.stdout);
    ensure!(owner.trim() == "ada" && log.contains("from claude"), "the tool's file is {owner:?}'s, its commit {log:?}");
    // The second request carried the first exchange: the session was resumed.
    let asked: Vec<_> = api.requests().into_iter().filter(|(p, r)| p.starts_with("/v1/messages?") && r["stream"] == true).collect();
    let resumed = asked.iter().any(|(_, r)| {
        let m = r["messages"].to_string();
        m.contains("please commit a file") && m.contains("and now?")
    });
    ensure!(resumed, "no request held both messages: the session was not resumed ({} requests)", asked.len());
    Ok(())
}
