//! Whose words start a resident's turn: the mayor's and its allowed users', addressed to it
//! in a shared room; never a stranger's (whose invites are declined), another resident's
//! beyond what its `allow` names or past the hop limit, or what was said before it joined.

use std::time::Duration;

use anyhow::ensure;

use crate::checks::chat::{ADA, VOX, audit, audit_mark, block_on, register, room_with};
use crate::support::mayor::Mayor;
use crate::support::town::Town;

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
        let since = audit_mark(t)?;
        mayor.say(&room, "ada: relay").await?;
        // ada → vox → ada → … each addresses the other. The hop past the limit is the last
        // answer of the chain: once the bot that refused it has audited the refusal, every
        // answer of the chain is in the room (a barrier, not a pause).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !audit(t, "message-ignored", since)?.contains("the hop limit (4) is reached") {
            ensure!(
                std::time::Instant::now() < deadline,
                "no bot refused a hop past the limit: {:?}",
                [mayor.from(&room, ADA).await?, mayor.from(&room, VOX).await?].concat()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
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
