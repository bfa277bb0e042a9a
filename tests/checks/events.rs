//! Town events (issue 25): ada's push starts vox's `[[on]] push` turn only where vox's file
//! allows ada; a device udev adds and ada is granted starts her `[[on]] device` turn.

use anyhow::{Context, ensure};

use crate::checks::chat::{ADA, VOX, block_on, room_with};
use crate::checks::rounds::as_ok;
use crate::checks::schedules::{ADA_TOML, Rewritten};
use crate::support::town::Town;

const VOX_TOML: &str = "/etc/townhall/residents/vox.toml";

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
        let push = |branch: &str| {
            as_ok(
                t,
                "ada",
                &format!(
                    "[ -r ~/.profile ] && . ~/.profile; cd ~/work/work && git commit -q --allow-empty -m {branch} && git push -q town HEAD:refs/heads/ada/{branch} 2>&1"
                ),
            )
        };
        let mark = mayor.mark(&room).await?;
        {
            // Without vox's allow for ada, her push starts nothing.
            let _waits = vox_waits(t, false, &on)?;
            push(&format!("unallowed-{}", stamp.trim()))?;
        }
        let _waits = vox_waits(t, true, &on)?;
        let allowed = format!("allowed-{}", stamp.trim());
        push(&allowed)?;
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
