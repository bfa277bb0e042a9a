//! The real agent CLIs wait for a mayor's approval: a tool call a resident's `approve` rule
//! names is asked about in Matrix, runs only on a mayor's ✅, and is denied by a mayor's ❌
//! or the timeout; a stranger's reaction and a resident's forged ask decide nothing.

use anyhow::ensure;

use crate::checks::chat::{block_on, room_with};
use crate::checks::clis::{Case, OnCli};
use crate::support::standin::{Api, CLAUDE_ENV, StandIn};
use crate::support::town::{Town, repo};

/// ada on the real claude with an approval rule: a call the rule names waits for the mayor.
pub fn claude_waits_for_a_mayors_approval(t: &Town) -> anyhow::Result<()> {
    let env = CLAUDE_ENV;
    let toml = std::fs::read_to_string(repo().join("residents/ada.toml"))?;
    let case = Case {
        api: Api::Anthropic,
        resident: "ada",
        workspace: "work",
        toml,
        env_file: "/run/secrets/townhall/ada-anthropic.env",
        env,
        sessions: "",
    };
    waits_for_approval(t, case, "kind = \"claude\"\n")
}

/// vox on the real gemini with the same rule, through gemini's BeforeTool hook.
pub fn gemini_waits_for_a_mayors_approval(t: &Town) -> anyhow::Result<()> {
    let env = "GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:{port}\nGEMINI_API_KEY=stand-in-not-a-key\n";
    let toml = std::fs::read_to_string(repo().join("residents/vox.toml"))?;
    let case = Case {
        api: Api::Gemini,
        resident: "vox",
        workspace: "notes",
        toml,
        env_file: "/run/secrets/townhall/vox-gemini.env",
        env,
        sessions: "",
    };
    waits_for_approval(t, case, "kind = \"gemini\"\n")
}

/// Wait until `n` turns have ended: each turn's last edit names its session.
async fn turns_ended(
    mayor: &crate::support::mayor::Mayor,
    room: &matrix_sdk::ruma::OwnedRoomId,
    from: &str,
    n: usize,
) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let said = mayor.from(room, from).await?;
        if said
            .iter()
            .filter(|(b, _)| b.contains("_session `"))
            .count()
            >= n
        {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "turn {n} did not end: {said:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// A stranger's ❌ changes nothing and the mayor's ✅ lets the call run; the mayor's ❌ and
/// the timeout deny it (it never runs, and the turn still ends); each question is edited to
/// say how it ended; the resident cannot forge an ask outside its turns.
fn waits_for_approval(t: &Town, case: Case, kind_line: &str) -> anyhow::Result<()> {
    use crate::support::mayor::Mayor;
    use crate::support::standin::{ASK_GUARDED, GUARDED};
    crate::checks::turns::setup(t)?;
    let api = StandIn::start(case.api)?;
    let rules =
        format!("{kind_line}approve = [\"Bash(echo guarded*)\"]\napprove_timeout = \"8s\"\n");
    let toml = case.toml.replacen(kind_line, &rules, 1);
    ensure!(
        toml != case.toml,
        "the resident's file has no {kind_line:?} line"
    );
    let env = case.env.replace("{port}", &api.port.to_string());
    let (who, mxid) = (case.resident, format!("@{}:town.test", case.resident));
    let ran = format!("/agents/{who}/{}/guarded-ran", case.workspace);
    let _on = OnCli::set(t, who, &toml, case.env_file, &env, ran.clone())?;
    let eve = crate::checks::chat::register(t, "passerby", "passerby-password")?;
    block_on(async {
        let (mayor, room) = room_with(t, &format!("{who} asks first"), &[&mxid], false).await?;
        let stranger = Mayor::login(&eve).await?;
        mayor.invite(&room, &eve.user).await?;
        stranger.join(&room).await?;
        let ask = |n: u32| format!("{who}: {ASK_GUARDED} ({n})");
        let did_run = || t.sh(&format!("test -e {ran} && echo yes || echo no")).map(|s| s.trim() == "yes");
        let question_text = format!("{who} asks to run `");

        mayor.say(&room, &ask(1)).await?;
        let question = mayor.event_with(&room, &mxid, &question_text).await?;
        let asked = mayor.from(&room, &mxid).await?;
        ensure!(asked.iter().any(|(b, _)| b.contains(GUARDED) && b.contains("Bash(echo guarded*)")), "the question does not describe the call: {asked:?}");
        stranger.react(&room, &question, "❌").await?;
        // The mayor's ✅ comes after the stranger's ❌ in the room: that it decides proves
        // the ❌ was read and decided nothing (a barrier, not a pause).
        mayor.react(&room, &question, "✅").await?;
        mayor.wait_for(&room, &mxid, "✅ allowed by @mayor:town.test").await?;
        ensure!(!mayor.from(&room, &mxid).await?.iter().any(|(b, _)| b.contains("❌ denied")), "a stranger's ❌ decided");
        turns_ended(&mayor, &room, &mxid, 1).await?;
        ensure!(did_run()?, "allowed, but the call did not run");

        t.sh(&format!("rm -f {ran}"))?;
        mayor.say(&room, &ask(2)).await?;
        let second = loop {
            let q = mayor.event_with(&room, &mxid, &question_text).await?;
            if q != question {
                break q;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        };
        mayor.react(&room, &second, "❌").await?;
        mayor.wait_for(&room, &mxid, "❌ denied by @mayor:town.test").await?;
        turns_ended(&mayor, &room, &mxid, 2).await?;

        mayor.say(&room, &ask(3)).await?;
        mayor.wait_for(&room, &mxid, "❌ denied: no mayor answered within 8s").await?;
        turns_ended(&mayor, &room, &mxid, 3).await?;
        ensure!(!did_run()?, "a denied call ran");

        // The resident, outside any turn, cannot get a yes from root's socket.
        let forged = t.as_user(who, &format!(r#"echo '{{"tool_name":"Bash","tool_input":{{"command":"echo guarded"}}}}' | TOWNHALL_TURN=townhall-turn-{who}-1-1 townhall approve-hook"#));
        let forged = String::from_utf8_lossy(&forged.stdout);
        ensure!(forged.contains(r#""permissionDecision":"deny""#) && forged.contains("has no running turn"), "a forged ask was not denied: {forged}");
        let audit = t.sh(&format!("grep approval-decided /var/lib/townhall/audit.log | grep -c '\"resident\":\"{who}\"'"))?;
        ensure!(audit.trim().parse::<u32>()? >= 3, "approvals are not in the audit log: {audit}");
        anyhow::Ok(())
    })
    .map_err(|e| {
        let tails: Vec<String> = api.requests().iter().rev().take(4).map(|(_, r)| format!("{:.1500}", r.to_string())).collect();
        anyhow::anyhow!("{e}\nthe stand-in's last requests:\n{}", tails.join("\n---\n"))
    })
}
