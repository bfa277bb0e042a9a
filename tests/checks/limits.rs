//! Usage-limit waits (issue 25): vox's CLI (the stand-in speaking claude's stream-json)
//! says claude's recorded usage-limit line; the conversation parks, the room is told when it
//! goes on, a message sent meanwhile waits with it, and it goes on by itself at the reset
//! time, across a restart of townhall.

use anyhow::{Context, ensure};

use crate::checks::chat::{VOX, block_on, room_with};
use crate::support::town::Town;

/// `start SECONDS` of each stand-in run of vox's whose prompt holds `text`, in order.
fn runs(t: &Town, text: &str) -> anyhow::Result<Vec<f64>> {
    let out = t.sh(&format!(
        "for f in $(grep -l -F '{text}' /agents/vox/standin-record-* 2>/dev/null); do sed -n 's/^start //p' \"$f\"; done"
    ))?;
    let mut starts: Vec<f64> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    starts.sort_by(f64::total_cmp);
    Ok(starts)
}

pub fn a_usage_limit_parks_vox_s_conversation_until_it_resets_across_a_restart(
    t: &Town,
) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let tag = t.sh("date +%s%N")?.trim().to_string();
    block_on(async {
        let (mayor, room) = room_with(t, "vox limited", &[VOX], true).await?;
        mayor.say(&room, &format!("limited 25 t{tag}")).await?;
        mayor
            .wait_for(&room, VOX, "resumes by itself at")
            .await
            .context("the room was not told when the conversation goes on")?;
        // Sent while it waits: it waits with it.
        mayor.say(&room, &format!("meanwhile {tag}")).await?;
        t.sh("systemctl restart townhall")?;
        let got = mayor
            .wait_for(&room, VOX, "⏵ resumed after the usage limit")
            .await
            .context("the parked conversation did not go on by itself")?;
        ensure!(!got.is_empty(), "no answer after the wait");
        let starts = runs(t, &format!("limited 25 t{tag}"))?;
        ensure!(
            starts.len() == 2,
            "vox's CLI ran {} times: {starts:?}",
            starts.len()
        );
        ensure!(
            starts[1] >= starts[0] + 24.0,
            "it went on before the limit's reset: {starts:?}"
        );
        let both = runs(t, &format!("meanwhile {tag}"))?;
        ensure!(
            both.len() == 1 && (both[0] - starts[1]).abs() < 0.001,
            "the message sent meanwhile did not go with it: {both:?} vs {starts:?}"
        );
        Ok(())
    })
}
