//! A resident's round ended alone (issue 24): vox's turn streams on while ada's home is
//! exchanged; ada's planted presence is levelled as by a town reset; a reset of hers killed
//! at any step is finished by the next; and, as ada who attacks, nothing she points at
//! outside her home is followed or deleted.

use anyhow::{Context, ensure};

use crate::checks::chat::{ADA, block_on, room_with};
use crate::checks::rounds::as_ok;
use crate::support::town::Town;

/// The town's round, and a resident's own (the town's plus the rounds it ended alone).
fn rounds(t: &Town, who: &str) -> anyhow::Result<(u64, u64)> {
    let town: u64 = t.sh("cat /var/lib/townhall/round")?.trim().parse()?;
    let alone: u64 = t
        .sh(&format!(
            "grep -o '\"{who}\": [0-9]*' /var/lib/townhall/rounds-alone.json 2>/dev/null | grep -o '[0-9]*$' || echo 0"
        ))?
        .trim()
        .parse()?;
    Ok((town, town + alone))
}

/// Her home is a subvolume of its own: the root of one has inode 256.
fn a_subvolume(t: &Town, path: &str) -> anyhow::Result<bool> {
    Ok(t.sh(&format!("stat -c %i {path}/"))?.trim() == "256")
}

/// The (index, stamp) of each tick vox's turn printed.
fn ticks(out: &str) -> Vec<(u64, f64)> {
    out.split("tick ")
        .skip(1)
        .filter_map(|rest| {
            let mut w = rest.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?))
        })
        .collect()
}

pub fn vox_streams_on_while_ada_is_reset_alone_from_chat(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    as_ok(
        t,
        "ada",
        "echo junk > ~/junk-alone && echo keep > ~/work/keep-alone && (setsid sleep 7400 >/dev/null 2>&1 &)",
    )?;
    t.sh("echo mine > /agents/vox/mine-alone && chown vox: /agents/vox/mine-alone")?;
    ensure!(
        a_subvolume(t, "/agents/ada")?,
        "ada's home is not a subvolume"
    );
    let (town_before, ada_before) = rounds(t, "ada")?;
    let (_, vox_before) = rounds(t, "vox")?;
    // vox's turn streams a tick every 0.2 s until told to stop, as a system unit of the
    // town's own so that it outlives this shell.
    t.sh("rm -f /tmp/vt.*; systemd-run --quiet --collect --unit=vox-ticks sh -c 'townhall turn vox ticks > /tmp/vt.out 2> /tmp/vt.err; echo $? > /tmp/vt.rc'")?;
    t.sh("i=0; until grep -q 'tick 1 ' /tmp/vt.out 2>/dev/null || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; grep -q 'tick 1 ' /tmp/vt.out")
        .context("vox's turn did not start streaming")?;
    let reset_asked: f64 = t.sh("date +%s.%N")?.trim().parse()?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada alone", &[ADA], true).await?;
        mayor.say(&room, "!reset").await?;
        let msgs = mayor.wait_for(&room, ADA, "Reply `!reset yes`").await?;
        let offer = msgs
            .iter()
            .map(|(b, _)| b.as_str())
            .find(|b| b.contains("Reply `!reset yes`"))
            .unwrap_or_default();
        ensure!(
            offer.contains("Ending ada's round") && !offer.contains("**vox**"),
            "the offer is not for ada alone:\n{offer}"
        );
        mayor.say(&room, "!reset yes").await?;
        mayor
            .wait_for(
                &room,
                ADA,
                &format!("ada's round {} begins", ada_before + 1),
            )
            .await?;
        Ok(())
    })?;
    let reset_done: f64 = t.sh("date +%s.%N")?.trim().parse()?;
    t.sh("touch /agents/vox/ticks-stop; i=0; until [ -s /tmp/vt.rc ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; [ -s /tmp/vt.rc ]")
        .context("vox's turn did not end")?;
    let (rc, out) = (t.sh("cat /tmp/vt.rc")?, t.sh("cat /tmp/vt.out")?);
    let got = ticks(&out);
    ensure!(
        rc.trim() == "0" && out.contains("ticked"),
        "vox's turn did not finish: exit {rc}, {out}{}",
        t.sh("cat /tmp/vt.err")?
    );
    ensure!(
        got.iter().enumerate().all(|(i, (n, _))| *n == i as u64 + 1),
        "vox's ticks are not all there in order: {got:?}"
    );
    ensure!(
        got.first().is_some_and(|(_, s)| *s < reset_asked)
            && got.iter().any(|(_, s)| *s > reset_done),
        "vox's one turn did not stream from before ada's reset to after it: {got:?} (reset {reset_asked}..{reset_done})"
    );
    // Ada's home is blank but for what persists; vox's is as it was.
    let home = t.sh("ls -A /agents/ada")?;
    ensure!(
        !home.contains("junk-alone"),
        "ada's file outlived her reset: {home}"
    );
    t.sh("test -f /agents/ada/work/keep-alone")
        .context("ada's persisted file is gone")?;
    let alive = t.sh("pgrep -u ada -f 'sleep 7400' || true")?;
    ensure!(alive.trim().is_empty(), "ada's process outlived her reset");
    ensure!(
        a_subvolume(t, "/agents/ada")?,
        "ada's new home is not a subvolume"
    );
    t.sh("test -f /agents/vox/mine-alone")
        .context("vox's file went with ada's reset")?;
    let (town_after, ada_after) = rounds(t, "ada")?;
    let (_, vox_after) = rounds(t, "vox")?;
    ensure!(
        (town_after, ada_after, vox_after) == (town_before, ada_before + 1, vox_before),
        "rounds (town, ada, vox): before ({town_before}, {ada_before}, {vox_before}), after ({town_after}, {ada_after}, {vox_after})"
    );
    Ok(())
}

pub fn a_reset_of_ada_alone_levels_everything_she_planted(t: &Town) -> anyhow::Result<()> {
    crate::checks::levelling::around(t, "`townhall reset ada`", 7300, |t| {
        let out = t.sh("townhall reset ada --yes --by probe 2>&1")?;
        ensure!(
            out.contains("ada's round") && out.contains("alone"),
            "the reset did not say ada's round began: {out}"
        );
        Ok(())
    })
}

pub fn a_reset_of_ada_alone_killed_at_any_step_is_finished_by_the_next(
    t: &Town,
) -> anyhow::Result<()> {
    crate::checks::levelling::install_probes(t)?;
    for step in townhall::round::STEPS {
        let (_, before) = rounds(t, "ada")?;
        crate::checks::unfinished::killed_after(t, step, "ada")?;
        let home = t.sh("stat -c '%F %i' /agents/ada/ 2>&1 || true")?;
        ensure!(
            home.trim() == "directory 256",
            "killed after {step}: /agents/ada is {home}"
        );
        let out = t.sh("townhall reset ada --yes --by after-kill 2>&1")?;
        ensure!(
            out.contains("begins"),
            "the reset after a kill at {step}: {out}"
        );
        let left = t.sh("ls -d /town/@agents.home-ada.next 2>/dev/null || true")?;
        ensure!(left.trim().is_empty(), "after {step}, a reset left {left}");
        let st = t.sh("stat -c '%a %U' /agents/ada/ /agents/vox/")?;
        ensure!(
            st.lines().collect::<Vec<_>>() == ["700 ada", "700 vox"],
            "after a kill at {step}: homes are {st}"
        );
        // A kill once the new home was in place counts that round too.
        let counted = if matches!(step, "exchanged" | "retired") {
            2
        } else {
            1
        };
        let (_, after) = rounds(t, "ada")?;
        ensure!(
            after == before + counted,
            "after a kill at {step}: ada's round went from {before} to {after}, not by {counted}"
        );
    }
    Ok(())
}

pub fn ada_cannot_lead_her_reset_outside_her_home(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    t.sh("echo root > /etc/townhall-sentinel && echo vox > /agents/vox/sentinel-vox && chown vox: /agents/vox/sentinel-vox && echo vox > /persist/vox/sentinel-vox && chown vox: /persist/vox/sentinel-vox")?;
    // A nested subvolume with a file in it; her persisted work swapped for a link to /etc;
    // links out of her home; a bind mount and a rename of her home, both of which the
    // kernel refuses her.
    as_ok(
        t,
        "ada",
        "btrfs subvolume create ~/nested >/dev/null && echo inner > ~/nested/inner && \
         mv /persist/ada/work /persist/ada/work-before && ln -s /etc /persist/ada/work && \
         ln -s /etc ~/etc-link && ln -s /agents/vox ~/vox-link && ln -s /persist/vox ~/vox-persist",
    )?;
    let mount = t.as_user("ada", "mkdir -p ~/m && mount --bind /etc ~/m");
    ensure!(!mount.status.success(), "ada bind-mounted /etc in her home");
    let mv = t.as_user("ada", "mv /agents/ada /agents/ada-moved");
    ensure!(!mv.status.success(), "ada renamed her home");
    // In a user namespace of her own a mount works, but only there: root never sees it.
    let _ = t.as_user(
        "ada",
        "unshare -rm sh -c 'mount --bind /etc ~/m && sleep 30' >/dev/null 2>&1 &",
    );
    let out = t.sh("townhall reset ada --yes --by hostile 2>&1")?;
    ensure!(out.contains("ada's round"), "the reset of ada: {out}");
    for sentinel in [
        "/etc/townhall-sentinel",
        "/etc/townhall/town.toml",
        "/etc/passwd",
        "/agents/vox/sentinel-vox",
        "/persist/vox/sentinel-vox",
    ] {
        t.sh(&format!("test -f {sentinel}"))
            .with_context(|| format!("{sentinel} is gone after ada's reset:\n{out}"))?;
    }
    ensure!(
        a_subvolume(t, "/agents/ada")?,
        "ada's home is not a subvolume"
    );
    let home = t.sh("ls -A /agents/ada")?;
    ensure!(
        !home.contains("nested") && !home.contains("etc-link") && !home.contains("vox-link"),
        "ada's planted entries outlived her reset: {home}"
    );
    let work = t.sh("stat -c %F /persist/ada/work && ls -A /persist/ada")?;
    ensure!(
        work.starts_with("directory") && work.contains(".quarantine-round-"),
        "her swapped work dir was not moved aside: {work}"
    );
    // The retired home and the subvolume nested in it are deleted in the background, by id.
    t.sh("i=0; until ! btrfs subvolume list /town | grep -q '@agents.retired' || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done")?;
    let left = t.sh("btrfs subvolume list /town")?;
    ensure!(
        !left.contains("@agents.retired") && !left.contains("nested"),
        "ada's old home is still there: {left}"
    );
    for sentinel in ["/etc/townhall-sentinel", "/agents/vox/sentinel-vox"] {
        t.sh(&format!("test -f {sentinel}"))
            .with_context(|| format!("{sentinel} is gone after the deletion"))?;
    }
    t.sh("rm -f /etc/townhall-sentinel /agents/vox/sentinel-vox /persist/vox/sentinel-vox")?;
    Ok(())
}

/// The number in "Checkpoint **N** of ada's home taken".
pub(crate) fn checkpoint_number(msgs: &[(String, bool)]) -> anyhow::Result<u64> {
    let said = msgs
        .iter()
        .map(|(b, _)| b.as_str())
        .find(|b| b.contains("of ada's home taken"))
        .context("no checkpoint was said")?;
    let n = said
        .split("**")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no number in {said}"))?;
    Ok(n)
}

pub fn a_rollback_brings_back_ada_s_files_and_commit_and_checkpoints_end_with_her_round(
    t: &Town,
) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let head = || as_ok(t, "ada", "cd ~/proj && git rev-parse HEAD");
    as_ok(
        t,
        "ada",
        "rm -rf ~/proj && git init -q ~/proj && cd ~/proj && echo a > a.txt && echo b > b.txt && git add . && git -c commit.gpgsign=false commit -qm first",
    )?;
    let first = head()?;
    t.sh("echo root > /etc/townhall-sentinel && echo vox > /agents/vox/sentinel-vox && chown vox: /agents/vox/sentinel-vox")?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada checkpoints", &[ADA], true).await?;
        mayor.say(&room, "!checkpoint before the mess").await?;
        let msgs = mayor.wait_for(&room, ADA, "of ada's home taken").await?;
        let n = checkpoint_number(&msgs)?;
        // The mess: a file deleted, the commit amended, a new file; then, as ada who
        // attacks, a nested subvolume and links out of her home for the rollback to follow.
        as_ok(
            t,
            "ada",
            "cd ~/proj && rm a.txt && echo c > c.txt && git add -A && git -c commit.gpgsign=false commit -q --amend -m amended && \
             btrfs subvolume create ~/nested-rb >/dev/null && echo x > ~/nested-rb/x && \
             ln -s /etc ~/etc-rb && ln -s /agents/vox ~/vox-rb && echo later > ~/work/after-checkpoint.txt",
        )?;
        ensure!(head()? != first, "the commit was not amended");
        // The checkpoint outlives a restart of the daemon.
        t.sh("systemctl restart townhall")?;
        mayor.say(&room, "!checkpoints").await?;
        mayor.wait_for(&room, ADA, "before the mess").await?;
        mayor.say(&room, &format!("!rollback {n}")).await?;
        let msgs = mayor.wait_for(&room, ADA, "Reply `!rollback yes`").await?;
        ensure!(
            msgs.iter()
                .any(|(b, _)| b.contains("are **not** rolled back")),
            "the offer does not say persisted paths stay: {msgs:?}"
        );
        mayor.say(&room, "!rollback yes").await?;
        mayor
            .wait_for(&room, ADA, &format!("back at checkpoint {n}"))
            .await?;
        Ok(())
    })?;
    ensure!(head()? == first, "the amended commit was not rolled back");
    as_ok(t, "ada", "test -f ~/proj/a.txt && test ! -e ~/proj/c.txt")
        .context("the files were not rolled back")?;
    as_ok(t, "ada", "test -f ~/work/after-checkpoint.txt")
        .context("a persisted file was rolled back")?;
    let home = t.sh("ls -A /agents/ada")?;
    ensure!(
        !home.contains("nested-rb") && !home.contains("etc-rb") && !home.contains("vox-rb"),
        "what ada planted after the checkpoint outlived the rollback: {home}"
    );
    for sentinel in [
        "/etc/townhall-sentinel",
        "/etc/passwd",
        "/agents/vox/sentinel-vox",
    ] {
        t.sh(&format!("test -f {sentinel}"))
            .with_context(|| format!("{sentinel} is gone after ada's rollback"))?;
    }
    // Her next reset ends her checkpoints: listed no more, and deleted in the background.
    let listed = t.sh("townhall checkpoints ada")?;
    ensure!(listed.contains("before the mess"), "not listed: {listed}");
    t.sh("townhall reset ada --yes --by checkpoints >/dev/null 2>&1")?;
    let listed = t.sh("townhall checkpoints ada")?;
    ensure!(listed.contains("no checkpoints"), "still listed: {listed}");
    t.sh("i=0; until ! btrfs subvolume list /town | grep -q 'checkpoints/ada\\|@agents.retired' || [ $i -ge 600 ]; do sleep 0.1; i=$((i+1)); done")?;
    let left = t.sh("btrfs subvolume list /town")?;
    ensure!(
        !left.contains("checkpoints/ada")
            && !left.contains("@agents.retired")
            && !left.contains("nested-rb"),
        "ada's checkpoint or old home is still there: {left}"
    );
    t.sh("rm -f /etc/townhall-sentinel /agents/vox/sentinel-vox")?;
    Ok(())
}
