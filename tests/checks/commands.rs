//! The mayor's commands from chat: `!status` shows a running turn, `!stop` ends it, `!new`
//! starts a fresh session, and `!reset` says what would be lost before `!reset yes` ends
//! the round.

use std::time::Duration;

use anyhow::ensure;

use crate::checks::chat::{ADA, VOX, block_on, room_with};
use crate::support::town::Town;

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
        mayor.say(&room, "!reset all").await?;
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
