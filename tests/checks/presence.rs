//! A bot's presence says what its resident is doing (issue 26), as the mayor's client reads
//! it through the Matrix API: "working: …" with the start of the prompt while a turn runs,
//! "idle" once it has ended; and a turn that began while the chat was down shows once the
//! chat is back.

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

/// The chat is down when vox's turn begins: once it is back, the bot says "working" (root
/// tells a chat that subscribes what each resident does), not "idle" until the turn ends.
pub fn a_turn_begun_while_the_chat_was_down_shows_once_it_is_back(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    t.sh("rm -f /agents/vox/ticks-stop /tmp/pt.*")?;
    block_on(async {
        let (mayor, _room) = room_with(t, "vox, back", &[VOX], false).await?;
        mayor.wait_presence(VOX, "idle").await?;
        t.sh("systemctl stop townhall-chat")?;
        let begun = t.sh("systemd-run --quiet --collect --unit=vox-presence-ticks sh -c 'townhall turn vox ticks while the chat is down > /tmp/pt.out 2>&1; echo $? > /tmp/pt.rc'; i=0; until grep -q 'tick 1 ' /tmp/pt.out 2>/dev/null || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; grep -c 'tick 1 ' /tmp/pt.out");
        let started = t.sh("systemctl start townhall-chat");
        begun?;
        started?;
        let shown = mayor
            .wait_presence(VOX, "working: ticks while the chat is down")
            .await;
        t.sh("touch /agents/vox/ticks-stop; i=0; until [ -s /tmp/pt.rc ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; [ -s /tmp/pt.rc ]")?;
        shown?;
        mayor.wait_presence(VOX, "idle").await?;
        anyhow::Ok(())
    })
}
