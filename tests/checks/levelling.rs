//! Levelling in the real town, as the resident who attacks: ada plants everything she can to
//! outlive a round (tests/town/probes/plant.sh), the round ends (`townhall reset`, `!reset`
//! from chat, a reboot), and check.sh plus root-side probes say whether any of it survived.
//! Each check sets up what it needs (stand-in CLI, probes, linger) and stands alone.

use std::collections::BTreeSet;

use anyhow::{Context, ensure};

use crate::support::town::{Town, repo};

const PROBES: &str = "/usr/local/lib/townhall-probes";

/// Copy the probe scripts and the stand-in CLI into the town (idempotent).
pub fn install_probes(t: &Town) -> anyhow::Result<()> {
    let dir = t.run.join(format!("root{PROBES}"));
    std::fs::create_dir_all(&dir)?;
    for f in ["plant.sh", "check.sh", "hoard.pl", "hold.pl"] {
        std::fs::copy(repo().join("tests/town/probes").join(f), dir.join(f))
            .with_context(|| format!("installing {f}"))?;
    }
    crate::checks::turns::setup(t)
}

/// Start ada's user manager as a turn would (linger), and wait for her bus.
pub(crate) fn ensure_manager(t: &Town) -> anyhow::Result<()> {
    t.sh("loginctl enable-linger ada && i=0; until [ -S /run/user/1100/bus ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done; [ -S /run/user/1100/bus ]")?;
    Ok(())
}

fn manager_pid(t: &Town) -> anyhow::Result<String> {
    Ok(t.sh("systemctl show -p MainPID --value user@1100.service")?
        .trim()
        .to_string())
}

/// Plant as ada; returns the names of what was planted.
fn plant(t: &Town, mark: u32, keyrings: bool) -> anyhow::Result<BTreeSet<String>> {
    ensure_manager(t)?;
    t.sh("mkdir -p /tmp/probe-root-dir && chmod 1777 /tmp/probe-root-dir")?;
    let keys = u8::from(keyrings);
    let out = t.as_user(
        "ada",
        &format!("cd ~ && PROBE_MARK={mark} PROBE_KEYRINGS={keys} sh {PROBES}/plant.sh"),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let planted: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("planted "))
        .map(String::from)
        .collect();
    // What must be there before the reset, or the probe proves nothing.
    let alive = t.sh(&format!("pgrep -u 1100 -f 'sleep {mark}' | wc -l"))?;
    ensure!(
        alive.trim().parse::<u32>()? >= 6,
        "the planted processes are not running: {alive}"
    );
    Ok(planted)
}

/// Probe results after a reset: (name, safe, detail). After a reboot ada's new manager may
/// already run (logind starts it once the boot reset has built her home).
fn check(
    t: &Town,
    mark: u32,
    manager_before: &str,
    booted: bool,
) -> anyhow::Result<Vec<(String, bool, String)>> {
    let mut results = Vec::new();
    if booted {
        let foreign = t.sh("for p in $(pgrep -u 1100); do grep -q 'user@1100.service' /proc/$p/cgroup || echo $p; done")?;
        results.push((
            "no_process_of_ada_outside_her_new_manager".into(),
            foreign.trim().is_empty(),
            foreign.clone(),
        ));
    } else {
        // Root's own work as ada is not hers: its helper units (townhall-helper-1100-*, and
        // townhall-losses-ada-*, which reads what the old round lost), and a zombie the
        // daemon or PID 1 is reaping this instant (the child that connects to her bus as her).
        let left = t.sh(
            "d=$(systemctl show -p MainPID --value townhall); \
             for p in $(pgrep -u 1100); do \
               grep -qs 'townhall-helper-1100-\\|townhall-losses-ada-' /proc/$p/cgroup && continue; \
               set -- $(ps -o ppid=,stat= -p $p) ; \
               case \"$1:$2\" in \"$d\":Z*|1:Z*) continue ;; esac; \
               ps -o pid=,ppid=,stat=,args= -p $p; \
             done || true",
        )?;
        results.push((
            "no_process_of_ada_left".into(),
            left.trim().is_empty(),
            left.clone(),
        ));
        let linger = t.sh("test -e /var/lib/systemd/linger/ada && echo yes || echo no")?;
        results.push((
            "linger_ended_until_rebuilt".into(),
            linger.trim() == "no",
            "linger is still on".into(),
        ));
    }
    ensure_manager(t)?;
    let after = manager_pid(t)?;
    results.push((
        "user_manager_is_new".into(),
        after != manager_before,
        format!("same manager pid {after}"),
    ));
    let out = t.as_user(
        "ada",
        &format!("cd ~ && PROBE_MARK={mark} sh {PROBES}/check.sh"),
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(name) = line.strip_prefix("safe ") {
            results.push((name.to_string(), true, String::new()));
        } else if let Some(rest) = line.strip_prefix("UNSAFE ") {
            let (name, why) = rest.split_once(": ").unwrap_or((rest, ""));
            results.push((name.to_string(), false, why.to_string()));
        }
    }
    Ok(results)
}

/// Every planted probe must report safe; at least 35 probes in all.
fn verdict(
    how: &str,
    planted: &BTreeSet<String>,
    results: &[(String, bool, String)],
) -> anyhow::Result<()> {
    let unsafe_: Vec<String> = results
        .iter()
        .filter(|r| !r.1)
        .map(|r| format!("{}: {}", r.0, r.2))
        .collect();
    let checked: BTreeSet<&str> = results.iter().map(|r| r.0.as_str()).collect();
    let unchecked: Vec<&String> = planted
        .iter()
        .filter(|p| !checked.contains(p.as_str()))
        .collect();
    ensure!(
        unsafe_.is_empty(),
        "after {how}, {} probe(s) survived:\n  {}",
        unsafe_.len(),
        unsafe_.join("\n  ")
    );
    ensure!(
        unchecked.is_empty(),
        "after {how}, planted but never checked: {unchecked:?}"
    );
    ensure!(
        results.len() >= 35,
        "only {} probes ran after {how}",
        results.len()
    );
    Ok(())
}

pub(crate) fn around(
    t: &Town,
    how: &str,
    mark: u32,
    reset: impl FnOnce(&Town) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let booted = how.contains("reboot");
    let keyrings = how.contains("townhall reset");
    install_probes(t)?;
    let planted = plant(t, mark, keyrings)?;
    ensure!(
        planted.len() >= 32,
        "only {} probes were planted: {planted:?}",
        planted.len()
    );
    let before = manager_pid(t)?;
    reset(t)?;
    let results = check(t, mark, &before, booted)?;
    verdict(how, &planted, &results)
}

pub fn a_cli_reset_levels_everything_ada_planted(t: &Town) -> anyhow::Result<()> {
    around(t, "`townhall reset`", 7100, |t| {
        let out = t.sh("townhall reset --yes --by probe 2>&1")?;
        ensure!(
            out.contains("ended") && out.contains("process(es)"),
            "the reset did not report levelling: {out}"
        );
        Ok(())
    })
}

pub fn a_reset_from_chat_levels_everything_ada_planted(t: &Town) -> anyhow::Result<()> {
    around(t, "`!reset`", 7200, |t| {
        crate::checks::chat::block_on(async {
            let (mayor, room) =
                crate::checks::chat::room_with(t, "probe reset", &["@ada:town.test"], true).await?;
            mayor.say(&room, "!reset").await?;
            mayor
                .wait_for(&room, "@ada:town.test", "!reset yes")
                .await?;
            mayor.say(&room, "!reset yes").await?;
            mayor.wait_for(&room, "@ada:town.test", "begins").await?;
            Ok(())
        })
    })
}

pub fn a_reboot_levels_everything_ada_planted(t: &Town) -> anyhow::Result<()> {
    around(t, "a reboot", 7300, |t| {
        t.reboot()?;
        t.sh("systemctl is-active townhall-reset.service townhall.service")?;
        Ok(())
    })
}
