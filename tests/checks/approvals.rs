//! The real agent CLIs wait for a mayor's approval: a tool call a resident's `approve` rule
//! names is asked about in Matrix, runs only on a mayor's ✅, and is denied by a mayor's ❌
//! or the timeout; a stranger's reaction and a resident's forged ask decide nothing. With
//! `approve_by`, the question mentions the approvers, only they decide, and a 🔁 allows the
//! rule for the rest of the round.

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
        mayor.wait_for(&room, &mxid, "❌ denied: no one who approves answered within 8s").await?;
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

/// A question from `from` containing `want` other than `not`: its event id.
async fn new_question(
    mayor: &crate::support::mayor::Mayor,
    room: &matrix_sdk::ruma::OwnedRoomId,
    from: &str,
    want: &str,
    not: &[&str],
) -> anyhow::Result<String> {
    loop {
        let q = mayor.event_with(room, from, want).await?;
        if !not.contains(&q.as_str()) {
            return Ok(q);
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// ada's `approve_by` names rita: the question mentions rita (m.mentions) and raises her to
/// moderator in a room ada's bot may run, a chatter's and
/// the mayor's ✅ decide nothing, rita's 🔁 allows the call and its rule for the round: the
/// next call the rule names runs without a question, one another rule names still asks;
/// `!approvals` lists the rule, a chatter cannot clear it, rita can, and then it asks again.
pub fn approvers_answer_and_allow_for_the_round(t: &Town) -> anyhow::Result<()> {
    use crate::support::mayor::Mayor;
    use crate::support::standin::{ASK_GUARDED, ASK_OTHER, GUARDED, OTHER};
    crate::checks::turns::setup(t)?;
    let api = StandIn::start(Api::Anthropic)?;
    let toml = std::fs::read_to_string(repo().join("residents/ada.toml"))?;
    let rules = "kind = \"claude\"\napprove = [\"Bash(echo guarded*)\", \"Bash(echo other*)\"]\napprove_timeout = \"20s\"\n";
    let people = "[matrix]\nallow = [\"@chatter:town.test\"]\napprove_by = [\"@rita:town.test\"]\n";
    let toml = toml
        .replacen("kind = \"claude\"\n", rules, 1)
        .replacen("[matrix]\n", people, 1);
    let env = CLAUDE_ENV.replace("{port}", &api.port.to_string());
    let work = "/agents/ada/work";
    let proof = format!("{work}/guarded-ran {work}/other-ran");
    let _on = OnCli::set(
        t,
        "ada",
        &toml,
        "/run/secrets/townhall/ada-anthropic.env",
        &env,
        proof,
    )?;
    let rita = crate::checks::chat::register(t, "rita", "rita-password")?;
    let chatter = crate::checks::chat::register(t, "chatter", "chatter-password")?;
    let ada = "@ada:town.test";
    let ran = |what: &str| {
        t.sh(&format!("test -e {work}/{what}-ran && echo yes || echo no"))
            .map(|s| s.trim() == "yes")
    };
    block_on(async {
        let (mayor, room) = room_with(t, "ada's approvers", &[ada], false).await?;
        let (rita_c, chatter_c) = (Mayor::login(&rita).await?, Mayor::login(&chatter).await?);
        for (who, c) in [(&rita, &rita_c), (&chatter, &chatter_c)] {
            mayor.invite(&room, &who.user).await?;
            c.join(&room).await?;
        }
        t.sh(&format!("rm -f {work}/guarded-ran {work}/other-ran"))?;
        // The mayor gives ada's bot the room to run: its question raises the approver.
        mayor.set_power(&room, ada, 100).await?;
        let asks = "ada asks to run `";
        // Each ask in a fresh session: the stand-in gives every Bash call one id, and claude
        // drops a result whose id its session has seen. The words differ from the other
        // approval checks': the stand-in offers the guarded call once per message.
        let fresh = || async {
            chatter_c.say(&room, "ada: !new").await?;
            chatter_c.wait_for(&room, ada, "starts a fresh session").await?;
            anyhow::Ok(())
        };

        chatter_c.say(&room, &format!("ada: {ASK_GUARDED} (by rita, 1)")).await?;
        let q1 = mayor.event_with(&room, ada, asks).await?;
        let mentioned = mayor.mentions(&room, &q1).await?;
        ensure!(mentioned == vec![rita.user.clone()], "the question mentions {mentioned:?}, not the approver");
        let levels = (mayor.power_of(&room, &rita.user).await?, mayor.power_of(&room, &chatter.user).await?);
        ensure!(levels == (50, 0), "rita and the chatter stand at {levels:?}: the approver is not a moderator, or the chatter is");
        let body = mayor.from(&room, ada).await?;
        ensure!(body.iter().any(|(b, _)| b.contains("🔁") && b.contains(GUARDED)), "the question offers no 🔁: {body:?}");
        // While the question waits, ada's bot says so at a glance.
        mayor.wait_presence(ada, "waiting for approval").await?;
        chatter_c.react(&room, &q1, "✅").await?;
        mayor.react(&room, &q1, "✅").await?;
        // rita's 🔁 comes after both ✅ in the room: that it decides proves they did not.
        rita_c.react(&room, &q1, "🔁").await?;
        mayor.wait_for(&room, ada, "✅ allowed for the rest of the round by @rita:town.test").await?;
        turns_ended(&mayor, &room, ada, 1).await?;
        ensure!(ran("guarded")?, "allowed, but the call did not run");

        // The same rule: no question (the turn's end is the barrier), and it runs.
        t.sh(&format!("rm -f {work}/guarded-ran"))?;
        let mark = mayor.mark(&room).await?;
        fresh().await?;
        chatter_c.say(&room, &format!("ada: {ASK_GUARDED} (by rita, 2)")).await?;
        turns_ended(&mayor, &room, ada, 2).await?;
        let since = mayor.sent_since(&room, ada, Some(&mark)).await?;
        ensure!(!since.iter().any(|(b, _)| b.contains(asks)), "a call the round's rule names asked again: {since:?}");
        ensure!(ran("guarded")?, "the call the round allows did not run");

        // Another rule still asks.
        fresh().await?;
        chatter_c.say(&room, &format!("ada: {ASK_OTHER}")).await?;
        let q2 = new_question(&mayor, &room, ada, asks, &[&q1]).await?;
        let body = mayor.from(&room, ada).await?;
        ensure!(body.iter().any(|(b, _)| b.contains(OTHER)), "the other call's question: {body:?}");
        rita_c.react(&room, &q2, "✅").await?;
        mayor.wait_for(&room, ada, "✅ allowed by @rita:town.test").await?;
        turns_ended(&mayor, &room, ada, 3).await?;
        ensure!(ran("other")?, "the other call did not run");

        chatter_c.say(&room, "ada: !approvals").await?;
        chatter_c.wait_for(&room, ada, "`Bash(echo guarded*)` by @rita:town.test").await?;
        chatter_c.say(&room, "ada: !approvals clear").await?;
        chatter_c.wait_for(&room, ada, "does not approve ada's tool calls").await?;
        rita_c.say(&room, "ada: !approvals clear").await?;
        rita_c.wait_for(&room, ada, "Taken back: ada's calls ask again").await?;
        fresh().await?;
        chatter_c.say(&room, &format!("ada: {ASK_GUARDED} (by rita, 3)")).await?;
        let q3 = new_question(&mayor, &room, ada, asks, &[&q1, &q2]).await?;
        rita_c.react(&room, &q3, "❌").await?;
        mayor.wait_for(&room, ada, "❌ denied by @rita:town.test").await?;
        turns_ended(&mayor, &room, ada, 4).await?;
        anyhow::Ok(())
    })
    .map_err(|e| {
        let tails: Vec<String> = api.requests().iter().rev().take(4).map(|(_, r)| format!("{:.1500}", r.to_string())).collect();
        let journal = t.sh("journalctl -u townhall -u townhall-chat -n 40 --no-pager").unwrap_or_default();
        anyhow::anyhow!("{e}\nthe stand-in's last requests:\n{}\nthe journal:\n{journal}", tails.join("\n---\n"))
    })
}
