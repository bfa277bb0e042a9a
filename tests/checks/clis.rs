//! The real agent CLIs (issue 14), installed from npm at the versions pinned in
//! tests/town/agents/package.json: each runs as a resident, answers the mayor in Matrix
//! through its model API's stand-in, runs the shell tool it is asked for, resumes its
//! session in the next message and after a reset, and starts afresh (saying so) when the
//! resident deletes its session state.

use anyhow::{Context, ensure};

use crate::checks::chat::{block_on, room_with};
use crate::support::standin::{ASK_COMMIT, Api, BEFORE_TOOL, CLAUDE_ENV, StandIn};
use crate::support::town::{Town, repo};

/// The pinned version of each CLI, from the same file the installer reads.
fn pins() -> anyhow::Result<Vec<(&'static str, String)>> {
    let text = std::fs::read_to_string(repo().join("tests/town/agents/package.json"))?;
    let deps: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(&text)?["dependencies"].clone();
    [
        ("claude", "@anthropic-ai/claude-code"),
        ("codex", "@openai/codex"),
        ("gemini", "@google/gemini-cli"),
    ]
    .into_iter()
    .map(|(cli, package)| {
        Ok((
            cli,
            deps[package]
                .as_str()
                .with_context(|| format!("{package} is not pinned"))?
                .to_string(),
        ))
    })
    .collect()
}

pub fn the_pinned_agent_clis_run_as_a_resident(t: &Town) -> anyhow::Result<()> {
    for (cli, version) in pins()? {
        let out = t.as_user("ada", &format!("cd && {cli} --version"));
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        ensure!(
            out.status.success(),
            "`{cli} --version` as ada failed ({}): {stdout}{stderr}",
            out.status
        );
        ensure!(
            stdout.contains(&version),
            "`{cli} --version` as ada says {stdout:?}, not the pinned {version}"
        );
    }
    // Read-only for residents: a resident cannot change the CLI another one runs.
    let out = t.as_user(
        "ada",
        "touch /opt/townhall-agents/node_modules/.bin/planted",
    );
    ensure!(
        !out.status.success(),
        "ada could write into the shared agent CLIs"
    );
    Ok(())
}

/// A resident on a real CLI: its residents/NAME.toml and one environment file as given,
/// both put back (and the tool's proof removed) when dropped, whatever the check returned.
pub(crate) struct OnCli<'a> {
    t: &'a Town,
    name: &'a str,
    toml: String,
    env_file: String,
    env: Option<String>,
    proof: String,
}

impl<'a> OnCli<'a> {
    pub(crate) fn set(
        t: &'a Town,
        name: &'a str,
        toml: &str,
        env_file: &str,
        env: &str,
        proof: String,
    ) -> anyhow::Result<Self> {
        let path = t
            .run
            .join(format!("root/etc/townhall/residents/{name}.toml"));
        let before = std::fs::read_to_string(&path)?;
        let env_before = t.sh(&format!("cat {env_file} 2>/dev/null || true"))?;
        let guard = Self {
            t,
            name,
            toml: before,
            env_file: env_file.into(),
            env: Some(env_before).filter(|e| !e.is_empty()),
            proof,
        };
        std::fs::write(&path, toml)?;
        let env = env.replace('\'', "");
        t.sh(&format!("printf '%s' '{env}' > {env_file} && chown {name} {env_file} && chmod 0400 {env_file} && townhall reload"))?;
        Ok(guard)
    }
}

impl Drop for OnCli<'_> {
    fn drop(&mut self) {
        let _ = std::fs::write(
            self.t
                .run
                .join(format!("root/etc/townhall/residents/{}.toml", self.name)),
            &self.toml,
        );
        let env = match &self.env {
            Some(e) => format!("printf '%s' '{}' > {}", e.replace('\'', ""), self.env_file),
            None => format!("rm -f {}", self.env_file),
        };
        let _ = self
            .t
            .sh(&format!("{env}; rm -rf {}; townhall reload", self.proof));
    }
}

/// How one CLI is proven: which resident, how it is configured, where its sessions live.
pub(crate) struct Case<'a> {
    pub(crate) api: Api,
    pub(crate) resident: &'a str,
    pub(crate) workspace: &'a str,
    pub(crate) toml: String,
    pub(crate) env_file: &'a str,
    /// The environment file's lines; `{port}` is the stand-in's.
    pub(crate) env: &'a str,
    /// What the resident deletes to lose its CLI's sessions, relative to its home.
    pub(crate) sessions: &'a str,
}

fn prove(t: &Town, case: Case) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let api = StandIn::start(case.api)?;
    let (who, home) = (case.resident, format!("/agents/{}", case.resident));
    let proof = format!("{home}/{}/{}", case.workspace, case.api.proof_dir());
    let toml = case.toml.replace("{port}", &api.port.to_string());
    let _on = OnCli::set(
        t,
        who,
        &toml,
        case.env_file,
        &case.env.replace("{port}", &api.port.to_string()),
        proof.clone(),
    )?;
    // Paths newly persisted (its CLI's state dir) are kept from the next round on.
    t.sh("townhall reset --yes --by test >/dev/null")?;
    let mxid = format!("@{who}:town.test");
    let explain = |e: anyhow::Error| {
        let log = t.journal(&["-u", "townhall", "-n", "40", "--no-pager"]);
        anyhow::anyhow!(
            "{e}\nthe stand-in was asked:\n{}\ntownhall's journal:\n{log}",
            api.summary()
        )
    };
    block_on(async {
        let (mayor, room) =
            room_with(t, &format!("{who} on {:?}", case.api), &[&mxid], true).await?;
        mayor.say(&room, ASK_COMMIT).await?;
        let said = mayor
            .wait_for(&room, &mxid, "committed-")
            .await
            .map_err(explain)?;
        ensure!(
            said.iter()
                .all(|(b, _)| !b.contains("cannot read") && !b.contains("not run")),
            "a line was not understood or a tool not run: {said:?}"
        );
        // Its text before the tool call and after are two paragraphs of one answer.
        ensure!(
            said.iter()
                .any(|(b, _)| b.contains(&format!("{BEFORE_TOOL}\n\ndone: "))),
            "the answer's blocks ran together: {said:?}"
        );
        // The tool ran as the resident, in its workspace, and git signed with its key.
        let owner = t.sh(&format!("stat -c %U {proof}/f"))?;
        let log = t.as_user(who, &format!("git -C {proof} log -1 --format='%s %G?'"));
        let log = String::from_utf8_lossy(&log.stdout);
        ensure!(
            owner.trim() == who,
            "the tool's file is {owner:?}'s, not {who}'s"
        );
        ensure!(
            log.trim() == format!("from {} G", case.api.proof_dir()),
            "the tool's commit: {log:?} (want its message and a good signature)"
        );

        mayor.say(&room, "and now?").await?;
        mayor
            .wait_for(&room, &mxid, "you said: and now?")
            .await
            .map_err(explain)?;
        ensure!(
            api.resumed(ASK_COMMIT, "and now?"),
            "no request held both messages: the session was not resumed"
        );

        // A new round: the CLI's state dir is persisted by default, so it resumes.
        t.sh("townhall reset --yes --by test >/dev/null")?;
        mayor.say(&room, "after the reset?").await?;
        mayor
            .wait_for(&room, &mxid, "you said: after the reset?")
            .await
            .map_err(explain)?;
        ensure!(
            api.resumed(ASK_COMMIT, "after the reset?"),
            "after the reset the session was not resumed"
        );

        // The resident deletes its CLI's sessions: the next turn starts afresh, and says so.
        let out = t.as_user(who, &format!("rm -rf ~/{}", case.sessions));
        ensure!(
            out.status.success(),
            "{who} could not delete ~/{}",
            case.sessions
        );
        mayor.say(&room, "once more").await?;
        let said = mayor
            .wait_for(&room, &mxid, "could not resume")
            .await
            .map_err(explain)?;
        ensure!(
            said.iter()
                .any(|(b, _)| b.contains("you said: once more") && b.contains("could not resume")),
            "no notice of the fresh session: {said:?}"
        );
        ensure!(
            !api.resumed(ASK_COMMIT, "once more"),
            "the lost session was resumed after all"
        );
        anyhow::Ok(())
    })
}

/// ada on the real claude, with her shipped residents/ada.toml byte for byte.
pub fn claude_answers_in_matrix_runs_its_tool_and_resumes(t: &Town) -> anyhow::Result<()> {
    let toml = std::fs::read_to_string(repo().join("residents/ada.toml"))?;
    let env = CLAUDE_ENV;
    let case = Case {
        api: Api::Anthropic,
        resident: "ada",
        workspace: "work",
        toml,
        env_file: "/run/secrets/townhall/ada-anthropic.env",
        env,
        sessions: ".claude/projects",
    };
    prove(t, case)
}

/// vox on the real gemini, with the shipped residents/vox.toml byte for byte.
pub fn gemini_answers_in_matrix_runs_its_tool_and_resumes(t: &Town) -> anyhow::Result<()> {
    let toml = std::fs::read_to_string(repo().join("residents/vox.toml"))?;
    let env = "GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:{port}\nGEMINI_API_KEY=stand-in-not-a-key\n";
    let case = Case {
        api: Api::Gemini,
        resident: "vox",
        workspace: "notes",
        toml,
        env_file: "/run/secrets/townhall/vox-gemini.env",
        env,
        sessions: ".gemini/tmp",
    };
    prove(t, case)
}

/// ada on the real codex: her shipped file with the kind changed, the argv left to the
/// default, and the stand-in as her model API.
pub fn codex_answers_in_matrix_runs_its_tool_and_resumes(t: &Town) -> anyhow::Result<()> {
    let shipped = std::fs::read_to_string(repo().join("residents/ada.toml"))?;
    let toml = shipped
        .lines()
        .filter(|l| !l.starts_with("argv = "))
        .map(|l| match l {
            "kind = \"claude\"" => {
                "kind = \"codex\"\nbase_url = \"http://127.0.0.1:{port}/v1\"".to_string()
            }
            l if l.starts_with("environment_files = ") => {
                "environment_files = [\"/run/secrets/townhall/ada-codex.env\"]".into()
            }
            l => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    ensure!(
        toml.contains("kind = \"codex\"") && toml.contains("ada-codex.env"),
        "ada.toml changed shape: {toml}"
    );
    let case = Case {
        api: Api::OpenAi,
        resident: "ada",
        workspace: "work",
        toml,
        env_file: "/run/secrets/townhall/ada-codex.env",
        env: "CODEX_API_KEY=sk-stand-in-not-a-key\n",
        sessions: ".codex/sessions",
    };
    prove(t, case)
}
