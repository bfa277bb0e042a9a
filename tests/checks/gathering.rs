//! No message turned away, in the real town: what the mayor sends while ada's turn runs
//! is kept (a 👀 says so), gathered in order into her next turn, and survives a restart of
//! the supervisor.

use std::time::Duration;

use anyhow::ensure;
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::ruma::events::{AnySyncMessageLikeEvent, AnySyncTimelineEvent};

use crate::checks::chat::{block_on, room_with};
use crate::support::mayor::Mayor;
use crate::support::town::Town;

const ADA: &str = "@ada:town.test";

/// Wait until ada's turn in `room` runs.
async fn running(t: &Town, room: &OwnedRoomId) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !t.sh("townhall status --json")?.contains(room.as_str()) {
        ensure!(
            std::time::Instant::now() < deadline,
            "ada's turn in {room} never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Everything ada said in the room, edits too (an answer grows by edits), in order.
async fn all_ada_said(mayor: &Mayor, room: &OwnedRoomId) -> anyhow::Result<String> {
    Ok(mayor
        .from(room, ADA)
        .await?
        .into_iter()
        .map(|(b, _)| b)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// `want` appear in `text` in this order.
fn in_order(text: &str, want: &[String]) -> anyhow::Result<()> {
    let mut at = 0;
    for w in want {
        let Some(i) = text[at..].find(w.as_str()) else {
            anyhow::bail!("`{w}` missing or out of order in:\n{text}")
        };
        at += i + w.len();
    }
    Ok(())
}

async fn reactions_by_ada(mayor: &Mayor, room: &OwnedRoomId) -> anyhow::Result<usize> {
    let r = mayor
        .client
        .get_room(room)
        .ok_or_else(|| anyhow::anyhow!("no room"))?;
    let mut opts = MessagesOptions::backward();
    opts.limit = 100u32.into();
    let batch = r.messages(opts).await?;
    Ok(batch
        .chunk
        .iter()
        .filter(|ev| matches!(ev.raw().deserialize(), Ok(AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::Reaction(r))) if r.sender().as_str() == ADA))
        .count())
}

pub fn a_burst_is_kept_in_order_and_a_restart_loses_none(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada (burst)", &[ADA], true).await?;
        mayor.say(&room, "slow").await?;
        running(t, &room).await?;
        let burst: Vec<String> = (1..=20).map(|i| format!("burst {i:02}")).collect();
        for m in &burst {
            mayor.send(&room, m).await?;
        }
        mayor.wait_for(&room, ADA, "burst 20").await?;
        let said = all_ada_said(&mayor, &room).await?;
        in_order(&said, &burst)?;
        ensure!(
            !said.contains("not kept") && !said.contains("queue full"),
            "a message was turned away:\n{said}"
        );
        ensure!(
            reactions_by_ada(&mayor, &room).await? >= 1,
            "no 👀 on the messages that waited"
        );

        // Kept on disk: a restart of the supervisor in the middle loses none.
        mayor.say(&room, "slow").await?;
        running(t, &room).await?;
        let kept: Vec<String> = (1..=5)
            .map(|i| format!("across the restart {i:02}"))
            .collect();
        for m in &kept {
            mayor.send(&room, m).await?;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !t
            .sh("cat /var/lib/townhall/waiting.json 2>/dev/null || true")?
            .contains("across the restart 05")
        {
            ensure!(
                std::time::Instant::now() < deadline,
                "the messages were never kept"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        t.sh("systemctl restart townhall")?;
        mayor.wait_for(&room, ADA, "across the restart 05").await?;
        in_order(&all_ada_said(&mayor, &room).await?, &kept)?;
        Ok(())
    })
}
