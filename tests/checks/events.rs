//! Town events (issue 25): ada's push starts vox's `[[on]] push` turn only where vox's file
//! allows ada; a device udev adds and ada is granted starts her `[[on]] device` turn; past
//! the hop limit such turns stop in a room until a mayor speaks there.

use anyhow::{Context, ensure};

use crate::checks::chat::{ADA, VOX, block_on, room_with};
use crate::checks::rounds::as_ok;
use crate::checks::schedules::{ADA_TOML, Rewritten, VOX_TOML};
use crate::support::town::Town;

/// vox's file waiting `on`, with ada's Matrix ID in its allow or not.
fn vox_waits<'a>(t: &'a Town, allow_ada: bool, on: &str) -> anyhow::Result<Rewritten<'a>> {
    let password = "password_file = \"/run/secrets/townhall/vox-matrix-password\"";
    let allow = match allow_ada {
        true => format!("{password}\nallow = [\"@ada:town.test\"]"),
        false => password.to_string(),
    };
    Rewritten::set(t, VOX_TOML, |declared| {
        format!("{}\n{on}", declared.replace(password, &allow))
    })
}

/// As ada, in her clone of the town remote: an empty commit pushed to `ada/BRANCH`.
fn ada_pushes(t: &Town, branch: &str) -> anyhow::Result<String> {
    as_ok(
        t,
        "ada",
        &format!(
            "[ -r ~/.profile ] && . ~/.profile; cd ~/work/work && git commit -q --allow-empty -m {branch} && git push -q town HEAD:refs/heads/ada/{branch} 2>&1"
        ),
    )
}

pub fn ada_s_push_starts_vox_s_on_push_turn_only_where_vox_allows_ada(
    t: &Town,
) -> anyhow::Result<()> {
    let _clone = crate::checks::worktrees::InTheClone::set(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "vox reviews", &[VOX], true).await?;
        let on = format!(
            "[[on]]\npush = \"ada/*\"\nprompt = \"review {{branch}} by {{pusher}} with {{fetch}}\"\nroom = \"{room}\"\n"
        );
        let stamp = t.sh("date +%s%N")?;
        let mark = mayor.mark(&room).await?;
        {
            // Without vox's allow for ada, her push starts nothing.
            let _waits = vox_waits(t, false, &on)?;
            ada_pushes(t, &format!("unallowed-{}", stamp.trim()))?;
        }
        let _waits = vox_waits(t, true, &on)?;
        let allowed = format!("allowed-{}", stamp.trim());
        ada_pushes(t, &allowed)?;
        // Barrier: both pushes' turns would share one conversation (ROOM/from:ada), in
        // order, so the first's answer would come before this one's.
        let got = mayor
            .wait_for_since(&room, VOX, &format!("📬 ada pushed `ada/{allowed}`"), &mark)
            .await
            .context("vox's [[on]] push turn never answered")?;
        ensure!(
            !got.iter().any(|(b, _)| b.contains("unallowed-")),
            "a push vox does not allow started a turn: {got:?}"
        );
        // What vox's CLI was asked: the prompt with the push's words filled in.
        let asked = t.sh("cat /agents/vox/standin-record-* | grep '^prompt review ' || true")?;
        ensure!(
            asked.contains(&format!(
                "prompt review ada/{allowed} by ada with git fetch /srv/townhall/git/"
            )) && asked.contains(&format!("refs/heads/ada/{allowed}")),
            "vox's prompt: {asked}"
        );
        ensure!(
            !asked.contains("unallowed-"),
            "vox was asked about the unallowed push: {asked}"
        );
        Ok(())
    })
}

pub fn a_device_udev_adds_starts_ada_s_on_device_turn(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    use crate::checks::grants::{RULE, uevent};
    block_on(async {
        let (mayor, room) = room_with(t, "ada bench events", &[ADA], true).await?;
        let on = format!(
            "\n[[on]]\ndevice = \"ttyS*\"\nprompt = \"flash on {{device}}\"\nroom = \"{room}\"\n"
        );
        let _declared = Rewritten::set(t, ADA_TOML, |d| format!("{d}{RULE}{on}"))?;
        mayor.mark(&room).await?;
        uevent("remove")?;
        uevent("add")?;
        let got = mayor
            .wait_for(&room, ADA, "you said: flash on /dev/ttyS0")
            .await
            .context("ada's [[on]] device turn never answered")?;
        ensure!(
            got.iter()
                .any(|(b, _)| b.contains("📬 /dev/ttyS0 appeared")),
            "the answer does not say the device started it: {got:?}"
        );
        Ok(())
    })
}

pub fn the_hop_limit_stops_event_turns_in_a_room_until_a_mayor_speaks_there(
    t: &Town,
) -> anyhow::Result<()> {
    let _clone = crate::checks::worktrees::InTheClone::set(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "vox hops", &[VOX], true).await?;
        let on = format!(
            "[[on]]\npush = \"ada/*\"\nprompt = \"hop on {{branch}}\"\nroom = \"{room}\"\n"
        );
        let _waits = vox_waits(t, true, &on)?;
        let stamp = t.sh("date +%s%N")?.trim().to_string();
        let branch = |i: u32| format!("hop{i}-{stamp}");
        let push = |i: u32| ada_pushes(t, &branch(i));
        let mark = mayor.mark(&room).await?;
        // HOP_LIMIT (4) turns in a row; the fifth push is past it.
        for i in 1..=5 {
            push(i)?;
        }
        mayor
            .wait_for_since(&room, VOX, "A human has to speak next", &mark)
            .await
            .context("the room was not told the hop limit stopped the chain")?;
        // A mayor speaks there and the chain may start again; the turn it starts shows root
        // heard it before the next push.
        let go_on = format!("go on {stamp}");
        mayor.say(&room, &go_on).await?;
        crate::checks::limits::until_vox_ran(t, &go_on)?;
        push(6)?;
        // Barrier: the sixth push's turn runs in the same conversation as the others, after
        // (or with) any of them still waiting.
        crate::checks::limits::until_vox_ran(t, &format!("hop on ada/{}", branch(6)))
            .context("a push after the mayor spoke started no turn")?;
        let asked = t.sh(&format!(
            "cat /agents/vox/standin-record-* | grep -o 'hop on ada/hop[0-9]-{stamp}' | sort -u"
        ))?;
        let want: Vec<String> = [1, 2, 3, 4, 6]
            .map(|i| format!("hop on ada/{}", branch(i)))
            .to_vec();
        let got: Vec<&str> = asked.lines().collect();
        ensure!(
            got == want,
            "vox was asked about {got:?}, not the four pushes in the limit and the one after the mayor spoke"
        );
        Ok(())
    })
}
