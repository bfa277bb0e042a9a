//! Usage-limit waits (issue 25): vox's CLI (the stand-in speaking claude's stream-json)
//! says claude's recorded usage-limit line; the conversation parks, the room is told when it
//! goes on, a message sent meanwhile waits with it, and it goes on by itself at the reset
//! time, across a restart of townhall.

use anyhow::{Context, ensure};

use crate::checks::chat::{VOX, block_on, room_with};
use crate::support::town::Town;

/// `start SECONDS` of each stand-in run of vox's whose prompt holds `text`, in order.
pub(crate) fn runs(t: &Town, text: &str) -> anyhow::Result<Vec<f64>> {
    let out = t.sh(&format!(
        "for f in $(grep -l -F '{text}' /agents/vox/standin-record-* 2>/dev/null); do sed -n 's/^start //p' \"$f\"; done"
    ))?;
    let mut starts: Vec<f64> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    starts.sort_by(f64::total_cmp);
    Ok(starts)
}

/// Wait (up to a minute) until vox's CLI has been run with `text` in its prompt: a turn
/// started, whatever its answer says or when its message is edited.
pub(crate) fn until_vox_ran(t: &Town, text: &str) -> anyhow::Result<()> {
    t.sh(&format!(
        "i=0; until grep -q -F '{text}' /agents/vox/standin-record-* 2>/dev/null; do [ $i -ge 300 ] && exit 1; sleep 0.2; i=$((i+1)); done"
    ))
    .with_context(|| format!("vox's CLI was never asked `{text}`"))?;
    Ok(())
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

pub fn resume_runs_vox_s_parked_conversation_now_and_stop_drops_what_waits(
    t: &Town,
) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let tag = t.sh("date +%s%N")?.trim().to_string();
    block_on(async {
        let (mayor, room) = room_with(t, "vox resumed early", &[VOX], true).await?;
        // An hour's wait: within the check only `!resume` can make it go on.
        let first = format!("limited 3600 r{tag}");
        mayor.say(&room, &first).await?;
        mayor
            .wait_for(&room, VOX, "resumes by itself at")
            .await
            .context("the first limit did not park the conversation")?;
        mayor.say(&room, "!resume").await?;
        mayor
            .wait_for(&room, VOX, "⏵ resumed after the usage limit")
            .await
            .context("!resume did not run the parked conversation now")?;
        let ran = runs(t, &first)?;
        ensure!(ran.len() == 2, "vox's CLI ran {} times: {ran:?}", ran.len());

        // Parked again, a message waiting behind it: `!stop` drops both.
        let second = format!("limited 3600 s{tag}");
        mayor.say(&room, &second).await?;
        mayor
            .wait_for(&room, VOX, "resumes by itself at")
            .await
            .context("the second limit did not park the conversation")?;
        let behind = format!("behind s{tag}");
        mayor.say(&room, &behind).await?;
        mayor.say(&room, "!stop").await?;
        mayor
            .wait_for(&room, VOX, "Stopped 1 running turn(s)")
            .await
            .context("!stop did not count the parked conversation")?;
        // Barrier: a parked conversation holds what is sent to it, and what waits goes
        // with the next run; this message's answer shows neither is left.
        let after = format!("after the stop s{tag}");
        mayor.say(&room, &after).await?;
        until_vox_ran(t, &after).context("the conversation still waits after !stop")?;
        let (again, went) = (runs(t, &second)?, runs(t, &behind)?);
        ensure!(
            again.len() == 1 && went.is_empty(),
            "after !stop the parked turn ran {} times and the message behind it {} times",
            again.len(),
            went.len()
        );
        ensure!(
            runs(t, &after)?.len() == 1,
            "the message after !stop did not run once"
        );
        Ok(())
    })
}
