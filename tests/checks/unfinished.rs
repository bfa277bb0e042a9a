//! A reset killed at any of its steps leaves /agents in place (the old round or the new
//! one), and the next reset finishes it; a reset whose terminal closes under it changes
//! nothing.

use anyhow::ensure;

use crate::checks::levelling::install_probes;
use crate::support::town::Town;

/// The town is whole: both homes are there, owned by their residents, and nothing of an
/// unfinished reset is left beside the live subvolume once a reset has run.
fn whole(t: &Town, when: &str) -> anyhow::Result<()> {
    let st = t.sh("stat -c '%a %U' /agents/ada/ /agents/vox/ 2>&1 || true")?;
    ensure!(
        st.lines().collect::<Vec<_>>() == ["700 ada", "700 vox"],
        "{when}: homes are {st}"
    );
    Ok(())
}

/// Run `townhall reset ARGS`, paused after `step`, and kill it there with SIGKILL.
pub(crate) fn killed_after(t: &Town, step: &str, args: &str) -> anyhow::Result<()> {
    t.sh(&format!(
        "TOWNHALL_RESET_PAUSE={step} townhall reset {args} --yes --by kill-test >/tmp/killed.log 2>&1 & p=$!; \
         i=0; until grep -q 'paused after {step}' /tmp/killed.log || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; \
         grep -q 'paused after {step}' /tmp/killed.log || {{ cat /tmp/killed.log; exit 1; }}; kill -9 $p; wait $p || true"
    ))?;
    Ok(())
}

pub fn a_reset_killed_at_any_step_is_finished_by_the_next(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    for step in townhall::round::STEPS {
        killed_after(t, step, "")?;
        // Never no /agents: the old round or the new one is in place.
        let agents = t.sh("stat -c %F /agents/ada/ 2>&1 || true")?;
        ensure!(
            agents.trim() == "directory",
            "killed after {step}: /agents/ada is {agents}"
        );
        let out = t.sh("townhall reset --yes --by after-kill 2>&1")?;
        ensure!(
            out.contains("begins"),
            "the reset after a kill at {step}: {out}"
        );
        let left = t.sh("ls -d /town/@agents.next 2>/dev/null || true")?;
        ensure!(left.trim().is_empty(), "after {step}, a reset left {left}");
        whole(t, &format!("after a kill at {step} and a reset"))?;
    }
    // A terminal that closes under a reset (`| head -c 94` closes its stderr) changes nothing.
    t.sh("townhall reset --yes --by closed-pipe 2>&1 | head -c 94 >/dev/null; sleep 1")?;
    whole(t, "after a reset whose output was cut")?;
    let out = t.sh("townhall reset --yes --by after-pipe 2>&1")?;
    ensure!(
        out.contains("begins") && !out.contains("interrupted"),
        "after a cut output: {out}"
    );
    Ok(())
}
