//! A bot's presence says what its resident is doing (issue 26), as the mayor's client reads
//! it through the Matrix API: "working: …" with the start of the prompt while a turn runs,
//! "idle" once it has ended.

use anyhow::ensure;

use crate::checks::chat::{VOX, block_on, room_with};
use crate::support::town::Town;

pub fn the_bots_presence_says_working_during_a_turn_and_idle_after(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    t.sh("rm -f /agents/vox/ticks-stop")?;
    block_on(async {
        let (mayor, room) = room_with(t, "vox at a glance", &[VOX], false).await?;
        mayor.wait_presence(VOX, "idle").await?;
        mayor
            .say(&room, "vox: ticks for the presence check")
            .await?;
        mayor.wait_for(&room, VOX, "tick 1 ").await?;
        let working = mayor
            .wait_presence(VOX, "working: ticks for the presence check")
            .await?;
        // The turn runs until told to stop: "working" was read while it ran.
        t.sh("touch /agents/vox/ticks-stop")?;
        mayor.wait_for(&room, VOX, "_session `").await?;
        let idle = mayor.wait_presence(VOX, "idle").await?;
        let (state, _) = mayor.presence_of(VOX).await?;
        ensure!(state == "online", "vox's bot is {state}, not online");
        ensure!(working != idle, "{working} / {idle}");
        anyhow::Ok(())
    })
}
