//! A resident's answers as the mayor's Matrix client sees them: streamed into one message
//! edited in place, in an encrypted DM, once each across restarts of townhall and Synapse,
//! and whole (fences intact) at 100 KB.

use std::time::Duration;

use anyhow::{Context, ensure};

use crate::checks::chat::{ADA, block_on, encrypted_dm, online, room_with};
use crate::support::town::Town;

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
