//! Chat in the real town: Synapse on loopback, the mayor as a real Matrix client, each
//! resident answering from its own Matrix identity (ada runs the stand-in `command` CLI,
//! vox the stand-in as `claude`; see turns::setup).

use std::time::Duration;

use anyhow::{Context, ensure};

use matrix_sdk::ruma::OwnedRoomId;

use crate::support::mayor::{Credentials, Mayor};
use crate::support::town::Town;

const ADA: &str = "@ada:town.test";
const VOX: &str = "@vox:town.test";

pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Register another Matrix user on the town's Synapse (a stranger, say).
pub(crate) fn register(t: &Town, user: &str, password: &str) -> anyhow::Result<Credentials> {
    let cache = std::env::var("TOWNHALL_CACHE").unwrap_or_else(|_| "/var/cache/townhall".into());
    let out = std::process::Command::new(format!("{cache}/synapse-venv/bin/python"))
        .args(["-m", "synapse._scripts.register_new_matrix_user", "-c"])
        .arg(t.run.join("synapse/hs.yaml"))
        .args([
            "-u",
            user,
            &format!("--password={password}"),
            "--no-admin",
            "http://127.0.0.1:8008",
        ])
        .output()?;
    // Registered by an earlier check: the same user, the same password.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success() || said.contains("User ID already taken"),
        "registering {user}: {said}"
    );
    Ok(Credentials {
        homeserver: "http://127.0.0.1:8008".into(),
        user: format!("@{user}:town.test"),
        password: password.into(),
    })
}

/// The mayor, logged in, in a new room with `users` once they have all joined.
/// The mayor, logged in, in a new encrypted DM with `user` once it has joined.
pub(crate) async fn encrypted_dm(
    t: &Town,
    name: &str,
    user: &str,
) -> anyhow::Result<(Mayor, OwnedRoomId)> {
    let mayor = Mayor::login(&t.mayor()?).await?;
    let room = mayor.create(name, &[user], true, true).await?;
    mayor.wait_joined(&room, &[user]).await?;
    Ok((mayor, room))
}

pub(crate) async fn room_with(
    t: &Town,
    name: &str,
    users: &[&str],
    direct: bool,
) -> anyhow::Result<(Mayor, OwnedRoomId)> {
    let mayor = Mayor::login(&t.mayor()?).await?;
    let room = mayor.create(name, users, direct, false).await?;
    mayor.wait_joined(&room, users).await?;
    Ok((mayor, room))
}

/// Where the audit log ends now: `audit` reads only what a check caused after it.
pub(crate) fn audit_mark(t: &Town) -> anyhow::Result<u64> {
    Ok(
        t.sh("stat -c %s /var/lib/townhall/audit.log 2>/dev/null || echo 0")?
            .trim()
            .parse()?,
    )
}

/// The audit log's `event` lines written after `since` (an `audit_mark`).
pub(crate) fn audit(t: &Town, event: &str, since: u64) -> anyhow::Result<String> {
    t.sh(&format!(
        "tail -c +{} /var/lib/townhall/audit.log | grep '\"event\":\"{event}\"' || true",
        since + 1
    ))
}

pub fn the_mayor_dms_ada_and_gets_a_streamed_answer(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada", &[ADA], true).await?;
        mayor.say(&room, "hello ada").await?;
        mayor.wait_for(&room, ADA, "you said: hello ada").await?;
        // Three lines a second apart: the answer grows in one message edited in place,
        // and ada is shown typing while the turn runs.
        let typing = mayor.watch_typing();
        mayor.say(&room, "slow").await?;
        let msgs = mayor.wait_for(&room, ADA, "line 3").await?;
        let typed = typing
            .lock()
            .unwrap()
            .iter()
            .any(|(r, u)| r == room.as_str() && u == ADA);
        ensure!(typed, "ada was never shown typing");
        let final_edit = msgs
            .iter()
            .rev()
            .find(|(b, _)| b.contains("line 3"))
            .context("no final text")?;
        ensure!(final_edit.1, "the final text is not an edit: {msgs:?}");
        ensure!(
            msgs.iter().any(|(b, e)| !e && b.contains("line 1")),
            "no first message with line 1: {msgs:?}"
        );
        Ok(())
    })
}

pub fn ada_answers_in_an_encrypted_dm(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    block_on(async {
        let (mayor, room) = encrypted_dm(t, "ada (encrypted)", ADA).await?;
        mayor.say(&room, "secret hello").await?;
        mayor.wait_for(&room, ADA, "you said: secret hello").await?;
        // ada's device is part of a cross-signing identity the mayor's client can see.
        let ada = matrix_sdk::ruma::UserId::parse(ADA)?;
        let identity = mayor
            .client
            .encryption()
            .request_user_identity(&ada)
            .await?;
        ensure!(identity.is_some(), "ada has no cross-signing identity");
        Ok(())
    })
}

pub fn strangers_start_no_turn_and_their_invites_are_declined(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let since = audit_mark(t)?;
    block_on(async {
        let creds = register(t, "eve", "eve-password")?;
        let eve = Mayor::login(&creds).await?;
        // Eve calls herself "mayor": identity is the user ID, never the display name.
        eve.client.account().set_display_name(Some("mayor")).await?;
        // A stranger's invite is declined…
        let dm = eve.create("eve and ada", &[ADA], true, false).await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !audit(t, "invite-declined", since)?.contains("@eve:town.test") {
            ensure!(
                std::time::Instant::now() < deadline,
                "eve's invite was not declined"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let _ = dm;
        // …and in a room the mayor shares with both, eve's words start nothing.
        let mayor = Mayor::login(&t.mayor()?).await?;
        let room = mayor
            .create("town square", &[ADA, "@eve:town.test"], false, false)
            .await?;
        eve.join(&room).await?;
        mayor.wait_joined(&room, &[ADA, "@eve:town.test"]).await?;
        // Everything ada says from before eve speaks, up to her answer to the barrier.
        let before_eve = mayor.mark(&room).await?;
        eve.say(&room, "ada: cat /etc/shadow").await?;
        mayor.say(&room, "ada: barrier").await?;
        let msgs = mayor
            .wait_for_since(&room, ADA, "you said: barrier", &before_eve)
            .await?;
        ensure!(
            !msgs.iter().any(|(b, _)| b.contains("shadow")),
            "ada answered eve: {msgs:?}"
        );
        ensure!(
            audit(t, "message-ignored", since)?.contains("@eve:town.test"),
            "eve's message is not in the audit log"
        );
        Ok(())
    })
}

pub fn in_a_shared_room_a_name_prefix_reaches_only_that_resident(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "lab", &[ADA, VOX], false).await?;
        let start = mayor.mark(&room).await?;
        mayor.say(&room, "vox: what do you make of this?").await?;
        mayor.wait_for(&room, VOX, "resumed").await?;
        mayor.say(&room, "ada: barrier").await?;
        let ada = mayor
            .wait_for_since(&room, ADA, "you said: barrier", &start)
            .await?;
        ensure!(
            ada.iter().all(|(b, _)| !b.contains("make of this")),
            "ada answered vox's message: {ada:?}"
        );
        Ok(())
    })
}

pub fn stop_new_and_status_work_from_chat(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada commands", &[ADA], true).await?;
        // ada's 3 s turn timeout (turns::setup) would race `!stop` on a slow machine.
        let path = crate::checks::grants::ada_toml(t);
        let declared = std::fs::read_to_string(&path)?;
        std::fs::write(
            &path,
            declared.replace("turn_timeout = \"3s\"", "turn_timeout = \"60s\""),
        )?;
        t.sh("townhall reload")?;
        let restore = |t: &Town| -> anyhow::Result<()> {
            std::fs::write(&path, &declared)?;
            t.sh("townhall reload").map(|_| ())
        };
        mayor.say(&room, "hang").await?;
        // Ask until the status shows the turn (it starts once ada's bot has synced "hang").
        let mut status = Vec::new();
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_millis(1000)).await;
            mayor.say(&room, "!status").await?;
            status = mayor.wait_for(&room, ADA, "supervisor up").await?;
            if status.iter().any(|(b, _)| b.contains("running for")) {
                break;
            }
        }
        ensure!(
            status
                .iter()
                .any(|(b, _)| b.contains("memory") && b.contains("round")),
            "{status:?}"
        );
        mayor.say(&room, "!stop").await?;
        let stopped = mayor.wait_for(&room, ADA, "Stopped 1 running turn").await;
        restore(t)?;
        stopped?;
        mayor.wait_for(&room, ADA, "(stopped)").await?;

        let vox = mayor.create("vox sessions", &[VOX], true, false).await?;
        mayor.wait_joined(&vox, &[VOX]).await?;
        mayor.say(&vox, "first").await?;
        let first = mayor.wait_for(&vox, VOX, "resumed none").await?;
        let _ = first;
        mayor.say(&vox, "second").await?;
        mayor.wait_for(&vox, VOX, "resumed sess-").await?;
        mayor.say(&vox, "!new").await?;
        mayor.wait_for(&vox, VOX, "fresh session").await?;
        // The turn after !new starts afresh.
        mayor.say(&vox, "third").await?;
        mayor.wait_for(&vox, VOX, "resumed none").await?;
        Ok(())
    })
}

/// Wait (up to 60 s) until `resident`'s bot is syncing: in a town just booted it is still
/// logging in.
pub(crate) fn online(t: &Town, resident: &str) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status: serde_json::Value = serde_json::from_str(&t.sh("townhall status --json")?)?;
        let chat = status["residents"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["name"] == resident))
            .map(|x| x["chat"].clone());
        if chat.as_ref().and_then(|c| c.as_str()) == Some("syncing") {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{resident}'s bot is not syncing: {chat:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn restarts_of_townhall_and_synapse_lose_nothing_and_answer_once(
    t: &Town,
) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    online(t, "ada")?;
    let device =
        || t.sh("grep -o '\"device_id\":\"[^\"]*\"' /var/lib/townhall-chat/ada/session.json");
    block_on(async {
        let before = device()?;
        let (mayor, room) = room_with(t, "ada restart", &[ADA], true).await?;
        t.sh("systemctl stop townhall")?;
        mayor.say(&room, "while you were away").await?;
        t.sh("systemctl start townhall")?;
        mayor
            .wait_for(&room, ADA, "you said: while you were away")
            .await?;
        t.sh("systemctl restart townhall")?;
        mayor.say(&room, "after the restart").await?;
        let msgs = mayor
            .wait_for(&room, ADA, "you said: after the restart")
            .await?;
        // A message answered twice would be answered again before this one (one
        // conversation runs in order): its answer proves no second answer is coming.
        mayor.say(&room, "barrier one").await?;
        mayor.wait_for(&room, ADA, "you said: barrier one").await?;
        let msgs2 = mayor.from(&room, ADA).await?;
        let answers =
            |m: &[(String, bool)], w: &str| m.iter().filter(|(b, e)| !e && b.contains(w)).count();
        ensure!(
            answers(&msgs2, "while you were away") == 1,
            "answered {} times: {msgs:?}",
            answers(&msgs2, "while you were away")
        );
        ensure!(answers(&msgs2, "after the restart") == 1, "{msgs2:?}");
        ensure!(device()? == before, "ada's device changed across restarts");

        // Synapse itself restarts mid-conversation: ada's sync loop backs off and resumes.
        t.restart_synapse()?;
        // The mayor's own client may first hit a connection the old Synapse closed.
        let mut tries = 0;
        while let Err(e) = mayor.say(&room, "after synapse came back").await {
            tries += 1;
            ensure!(tries < 10, "the mayor cannot send after the restart: {e}");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        mayor
            .wait_for(&room, ADA, "you said: after synapse came back")
            .await?;
        mayor.say(&room, "barrier two").await?;
        mayor.wait_for(&room, ADA, "you said: barrier two").await?;
        let msgs3 = mayor.from(&room, ADA).await?;
        ensure!(answers(&msgs3, "after synapse came back") == 1, "{msgs3:?}");
        ensure!(
            answers(&msgs3, "while you were away") == 1,
            "an old message was answered again: {msgs3:?}"
        );
        Ok(())
    })
}

pub fn a_100_kb_answer_arrives_whole_with_fences_intact(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada big", &[ADA], true).await?;
        mayor.say(&room, "big").await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let msgs = mayor.from(&room, ADA).await?;
            // The final pieces: the last edit of the first message, then the follow-ups.
            let last_edit = msgs.iter().rposition(|(_, e)| *e);
            let pieces: Vec<&String> = match last_edit {
                Some(i) => std::iter::once(&msgs[i].0)
                    .chain(msgs[i + 1..].iter().filter(|(_, e)| !e).map(|(b, _)| b))
                    .collect(),
                None => vec![],
            };
            let all: String = pieces.iter().map(|s| s.as_str()).collect();
            if all.contains("line 19.99:") {
                for i in 0..20 {
                    for j in 0..100 {
                        ensure!(
                            all.contains(&format!("line {i}.{j}: the quick brown fox")),
                            "line {i}.{j} is missing"
                        );
                    }
                }
                for p in &pieces {
                    ensure!(
                        p.matches("```").count() % 2 == 0,
                        "a piece cuts a code fence: {}",
                        &p[..p.len().min(200)]
                    );
                }
                ensure!(
                    pieces.len() >= 10,
                    "only {} pieces for ~110 KB",
                    pieces.len()
                );
                return Ok(());
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "the big answer did not arrive whole ({} messages)",
                msgs.len()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// Set `allow` in a resident's [matrix] table (inside the town); returns the old file.
fn allow(t: &Town, who: &str, users: &[&str]) -> anyhow::Result<String> {
    let path = t
        .run
        .join(format!("root/etc/townhall/residents/{who}.toml"));
    let declared = std::fs::read_to_string(&path)?;
    let list: Vec<String> = users.iter().map(|u| format!("\"{u}\"")).collect();
    let line = format!("password_file = \"/run/secrets/townhall/{who}-matrix-password\"");
    ensure!(declared.contains(&line), "{who}.toml has no `{line}` line");
    std::fs::write(
        &path,
        declared.replace(&line, &format!("{line}\nallow = [{}]", list.join(", "))),
    )?;
    Ok(declared)
}

fn restore(t: &Town, who: &str, declared: &str) -> anyhow::Result<()> {
    std::fs::write(
        t.run
            .join(format!("root/etc/townhall/residents/{who}.toml")),
        declared,
    )?;
    Ok(())
}

pub fn a_resident_to_resident_loop_stops_at_the_hop_limit(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    // Residents answer residents only when allowed: here each allows the other.
    let (ada, vox) = (allow(t, "ada", &[VOX])?, allow(t, "vox", &[ADA])?);
    t.sh("townhall reload")?;
    let r = block_on(async {
        let (mayor, room) = room_with(t, "relay", &[ADA, VOX], false).await?;
        mayor.say(&room, "ada: relay").await?;
        // ada → vox → ada → … each addresses the other; the chain ends with a notice.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let both = [mayor.from(&room, ADA).await?, mayor.from(&room, VOX).await?].concat();
            if both.iter().any(|(b, _)| b.contains("Stopping here")) {
                break;
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "the loop did not stop: {both:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let count =
            |m: &[(String, bool)]| m.iter().filter(|(b, e)| !e && b.contains("relay")).count();
        let (a, v) = (mayor.from(&room, ADA).await?, mayor.from(&room, VOX).await?);
        let answers = count(&a) + count(&v);
        ensure!(
            answers == 1 + 4,
            "expected ada's answer and 4 hops, got {answers}: {a:?} {v:?}"
        );
        // vox's relay turns keep a session of their own, never the mayor's conversation's.
        let sessions = t.sh("cat /var/lib/townhall/sessions.json")?;
        let key = format!("vox/{room}/from:{ADA}");
        ensure!(
            sessions.contains(&key),
            "no session of its own for ada's requests to vox ({key}): {sessions}"
        );
        ensure!(
            !sessions.contains(&format!("\"vox/{room}\"")),
            "ada's request ran in the room's own conversation: {sessions}"
        );
        Ok(())
    });
    restore(t, "ada", &ada)?;
    restore(t, "vox", &vox)?;
    t.sh("townhall reload")?;
    r
}

pub fn a_resident_commands_another_only_when_its_allow_says_so(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "no relay", &[ADA, VOX], false).await?;
        // ada relays to vox ("vox: relay"), but vox's allow does not name ada: no turn.
        let since = audit_mark(t)?;
        let start = mayor.mark(&room).await?;
        mayor.say(&room, "ada: relay").await?;
        mayor.wait_for(&room, ADA, "vox: relay").await?;
        // vox's bot reads the room in order: once it answers the mayor's later message,
        // it has decided on ada's, and the audit line says it refused.
        mayor.say(&room, "vox: barrier").await?;
        mayor.wait_for(&room, VOX, "resumed").await?;
        let v = mayor.wait_for_since(&room, VOX, "resumed", &start).await?;
        ensure!(
            v.iter().filter(|(_, edit)| !edit).count() == 1,
            "vox answered ada without allowing her: {v:?}"
        );
        let refused = audit(t, "message-ignored", since)?;
        ensure!(
            refused.contains("allow does not name"),
            "no audit line for the refused relay: {refused}"
        );
        Ok(())
    })
}

pub fn device_notices_reach_the_residents_rooms(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    use crate::checks::grants::{RULE, ada_toml, uevent};
    block_on(async {
        let (mayor, room) = room_with(t, "ada's bench", &[ADA], false).await?;
        let path = ada_toml(t);
        let declared = std::fs::read_to_string(&path)?;
        let with_room = declared.replace("rooms = []", &format!("rooms = [\"{room}\"]"));
        ensure!(
            with_room != declared,
            "ada.toml has no `rooms = []` line to fill"
        );
        std::fs::write(&path, format!("{with_room}{RULE}"))?;
        t.sh("townhall reload")?;
        mayor
            .wait_for(&room, ADA, "/dev/ttyS0 is here and granted to ada")
            .await?;
        uevent("remove")?;
        mayor.wait_for(&room, ADA, "/dev/ttyS0 is gone").await?;
        uevent("add")?;
        std::fs::write(&path, &with_room)?;
        t.sh("townhall reload")?;
        mayor
            .wait_for(&room, ADA, "Access to /dev/ttyS0 was revoked")
            .await?;
        std::fs::write(&path, declared)?;
        t.sh("townhall reload")?;
        Ok(())
    })
}

/// `!reset` first says what would be lost (here an uncommitted file and an unpushed commit
/// in ada's workspace repository) and does nothing; only the mayor's `!reset yes` in that
/// room ends the round.
pub fn a_mayor_resets_the_round_from_chat(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let round =
        || -> anyhow::Result<u64> { Ok(t.sh("cat /var/lib/townhall/round")?.trim().parse()?) };
    let out = t.as_user("ada", "cd ~/work/work && echo loose > loose-before-reset.txt && git -c commit.gpgsign=false commit -q --allow-empty -m 'unpushed before the reset' && echo ok");
    ensure!(
        String::from_utf8_lossy(&out.stdout).contains("ok"),
        "ada's workspace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    block_on(async {
        let before = round()?;
        let (mayor, room) = room_with(t, "ada reset", &[ADA], true).await?;
        mayor.say(&room, "!reset yes").await?;
        mayor
            .wait_for(&room, ADA, "No reset is waiting for your confirmation")
            .await?;
        mayor.say(&room, "!reset").await?;
        let msgs = mayor.wait_for(&room, ADA, "Reply `!reset yes`").await?;
        let report = msgs
            .iter()
            .map(|(b, _)| b.as_str())
            .find(|b| b.contains("Ending the round"))
            .unwrap_or_default();
        for want in [
            "everything in /agents/ada except",
            "work/work: 1 uncommitted change(s): ?? loose-before-reset.txt",
            "commit(s) not on the town remote",
            "unpushed before the reset",
        ] {
            ensure!(
                report.contains(want),
                "the report lacks {want:?}:\n{report}"
            );
        }
        // A barrier: ada's answer to a later command comes after anything the offer did.
        mayor.say(&room, "!status").await?;
        mayor.wait_for(&room, ADA, "supervisor up").await?;
        ensure!(
            round()? == before,
            "the round ended before it was confirmed"
        );
        mayor.say(&room, "!reset yes").await?;
        mayor
            .wait_for(&room, ADA, &format!("Round {} begins", before + 1))
            .await?;
        ensure!(round()? == before + 1, "the round did not advance");
        let audit = t.sh("tail -n 5 /var/lib/townhall/audit.log")?;
        ensure!(
            audit.contains("\"by\":\"@mayor:town.test\""),
            "audit: {audit}"
        );
        Ok(())
    })
}

pub fn what_was_said_before_ada_joined_starts_no_turn(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    block_on(async {
        let mayor = Mayor::login(&t.mayor()?).await?;
        let room = mayor.create("history", &[], false, false).await?;
        let start = mayor.mark(&room).await?;
        mayor.say(&room, "ada: said before you came").await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        mayor.invite(&room, ADA).await?;
        mayor.wait_joined(&room, &[ADA]).await?;
        mayor.say(&room, "ada: now").await?;
        let msgs = mayor
            .wait_for_since(&room, ADA, "you said: now", &start)
            .await?;
        ensure!(
            !msgs.iter().any(|(b, _)| b.contains("before you came")),
            "ada acted on history from before her join: {msgs:?}"
        );
        Ok(())
    })
}
