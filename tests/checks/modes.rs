//! Modes from chat (issue 26): `!model` and `!plan` change the argv of a conversation's next
//! turns, and of that conversation only; a model vox does not declare is refused; `!status`
//! shows the mode.

use anyhow::{Context, ensure};

use crate::checks::chat::{VOX, block_on, room_with};
use crate::checks::schedules::Rewritten;
use crate::support::town::Town;

/// The argv vox's stand-in CLI ran with in its latest turn.
fn last_args(t: &Town) -> anyhow::Result<String> {
    t.sh("grep '^args ' \"$(ls -t /agents/vox/standin-record-* | head -n 1)\"")
        .context("vox's stand-in recorded no turn")
}

pub fn model_and_plan_change_the_next_turns_argv_of_their_conversation_only(
    t: &Town,
) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let argv = "argv = [\"/usr/local/bin/standin\"]\n";
    let _vox = Rewritten::set(t, "/etc/townhall/residents/vox.toml", |declared| {
        declared.replacen(
            argv,
            &format!("{argv}models = [\"opus-standin\", \"sonnet-standin\"]\n"),
            1,
        )
    })?;
    block_on(async {
        let (mayor, room) = room_with(t, "vox plans", &[VOX], false).await?;
        let other = mayor.create("vox as it was", &[VOX], false, false).await?;
        mayor.wait_joined(&other, &[VOX]).await?;

        mayor.say(&room, "vox: !model haiku-not-declared").await?;
        mayor
            .wait_for(
                &room,
                VOX,
                "is not one of vox's models (opus-standin, sonnet-standin)",
            )
            .await?;
        mayor.say(&room, "vox: !model opus-standin").await?;
        mayor.wait_for(&room, VOX, "model `opus-standin`").await?;
        mayor.say(&room, "vox: !plan").await?;
        mayor.wait_for(&room, VOX, "plan mode").await?;
        mayor.say(&room, "vox: plan something").await?;
        mayor.wait_for(&room, VOX, "resumed").await?;
        let planned = last_args(t)?;
        ensure!(
            planned.contains("--model opus-standin")
                && planned.contains("--permission-mode plan")
                && !planned.contains("--dangerously-skip-permissions"),
            "the turn after !model and !plan ran {planned}"
        );

        // Another room is another conversation: its turns run as declared.
        mayor.say(&other, "vox: just answer").await?;
        mayor.wait_for(&other, VOX, "resumed").await?;
        let plain = last_args(t)?;
        ensure!(
            !plain.contains("--model") && !plain.contains("--permission-mode"),
            "another conversation's turn ran {plain}"
        );

        mayor.say(&room, "vox: !status").await?;
        mayor
            .wait_for(&room, VOX, "This conversation: model `opus-standin`")
            .await?;
        mayor.say(&room, "vox: !plan off").await?;
        mayor
            .wait_for(&room, VOX, "From vox's next turn here")
            .await?;
        mayor.say(&room, "vox: no plan now").await?;
        mayor.wait_for(&room, VOX, "resumed").await?;
        let after = last_args(t)?;
        ensure!(
            after.contains("--model opus-standin") && !after.contains("--permission-mode"),
            "the turn after !plan off ran {after}"
        );
        anyhow::Ok(())
    })
}
