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

fn around(
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

/// Plant a symlink, a fifo and a root-owned directory where ada's persisted paths belong.
fn plant_persist(t: &Town) -> anyhow::Result<()> {
    let out = t.as_user("ada", "cd /persist/ada && rm -rf w && mv work w && ln -s /etc work && rm -rf .claude && mkfifo .claude");
    ensure!(
        out.status.success(),
        "as ada: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.sh("rm -f /persist/ada/.bash_history && mkdir /persist/ada/.bash_history")?;
    Ok(())
}

/// What must not change outside /persist/ada: /etc's owners and modes, and the other homes.
fn outside(t: &Town) -> anyhow::Result<String> {
    t.sh("stat -c '%n %U %a' /etc /etc/shadow /etc/passwd; find /persist -maxdepth 1 -printf '%p %u %m\\n' | sort")
}

fn persist_survives(
    t: &Town,
    how: &str,
    reset: impl FnOnce(&Town) -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    install_probes(t)?;
    plant_persist(t)?;
    let before = outside(t)?;
    let report = reset(t)?;
    ensure!(
        outside(t)? == before,
        "{how} changed something outside /persist/ada:\n{before}\n---\n{}",
        outside(t)?
    );
    let kinds = t.sh(
        "stat -c '%n %F %U' /persist/ada/work /persist/ada/.claude /persist/ada/.bash_history",
    )?;
    for want in [
        "/persist/ada/work directory ada",
        "/persist/ada/.claude directory ada",
        "/persist/ada/.bash_history regular empty file ada",
    ] {
        ensure!(
            kinds.contains(want),
            "after {how}, not a fresh entry: {want}\n{kinds}"
        );
    }
    let q = t.sh("ls -A /persist/ada/ | grep quarantine-round | head -n 1")?;
    let moved = t.sh(&format!("ls -A /persist/ada/{}", q.trim()))?;
    for want in ["work", ".claude", ".bash_history"] {
        ensure!(
            moved.lines().any(|l| l == want),
            "{want} was not quarantined after {how}: {moved}"
        );
    }
    let audit = t.sh("grep '\"event\":\"reset\"' /var/lib/townhall/audit.log | tail -n 1")?;
    ensure!(
        audit.contains("quarantined") && audit.contains("a symlink to /etc"),
        "the audit line does not report it: {audit}"
    );
    ensure!(
        report.contains("moved to") || how == "a reboot",
        "the reset output does not report it: {report}"
    );
    let st = t.sh("stat -c '%a %U' /agents/ada/ /agents/vox/")?;
    ensure!(
        st.lines().collect::<Vec<_>>() == ["700 ada", "700 vox"],
        "homes after {how}: {st}"
    );
    let vox = t.sh("townhall turn vox hello from vox")?;
    ensure!(
        vox.contains("resumed"),
        "vox did not answer after {how}: {vox}"
    );
    t.sh("rm -rf /persist/ada/.quarantine-round-*")?;
    Ok(())
}

pub fn planted_persist_entries_are_quarantined_and_the_reset_completes(
    t: &Town,
) -> anyhow::Result<()> {
    persist_survives(t, "`townhall reset`", |t| {
        t.sh("townhall reset --yes --by probe 2>&1")
    })?;
    persist_survives(t, "a reboot", |t| {
        t.reboot()?;
        t.sh("systemctl is-active townhall-reset.service townhall.service")
    })
}

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

pub fn a_reset_killed_at_any_step_is_finished_by_the_next(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    for step in [
        "levelled",
        "quarantined",
        "snapshotted",
        "built",
        "exchanged",
        "retired",
    ] {
        t.sh(&format!(
            "TOWNHALL_RESET_PAUSE={step} townhall reset --yes --by kill-test >/tmp/killed.log 2>&1 & p=$!; \
             i=0; until grep -q 'paused after {step}' /tmp/killed.log || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; \
             grep -q 'paused after {step}' /tmp/killed.log || {{ cat /tmp/killed.log; exit 1; }}; kill -9 $p; wait $p || true"
        ))?;
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

pub fn what_a_reset_moved_aside_is_told_in_adas_rooms(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let r = crate::checks::chat::block_on(async {
        let (mayor, room) =
            crate::checks::chat::room_with(t, "ada's desk", &["@ada:town.test"], false).await?;
        let _rooms = crate::support::rooms::AdaRooms::set(t, &room)?;
        plant_persist(t)?;
        t.sh("townhall reset --yes --by probe >/dev/null 2>&1")?;
        let msgs = mayor.wait_for(&room, "@ada:town.test", "began").await?;
        let notice = msgs
            .iter()
            .find(|(b, _)| b.contains("began"))
            .map(|(b, _)| b.clone())
            .unwrap_or_default();
        ensure!(
            notice.contains("a symlink to /etc") && notice.contains("moved to"),
            "the notice: {notice}"
        );
        // … and `townhall status` and `!status` say so until the next reset.
        let status = t.sh("townhall status")?;
        ensure!(
            status.contains("last reset: /persist/ada/work was a symlink to /etc"),
            "status: {status}"
        );
        mayor.say(&room, "!status").await?;
        mayor
            .wait_for(&room, "@ada:town.test", "last reset: /persist/ada/work")
            .await?;
        Ok(())
    });
    t.sh("rm -rf /persist/ada/.quarantine-round-*")?;
    r
}

/// A confirmed reset reads nothing of the homes before the new round is in place: what
/// ada's round lost (a file, a commit the town remote never got) is not in the reset's
/// output, and reaches her rooms afterwards, read from the retired round.
pub fn what_a_confirmed_reset_lost_reaches_adas_rooms_afterwards(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    crate::checks::chat::block_on(async {
        let (mayor, room) =
            crate::checks::chat::room_with(t, "what ada lost", &["@ada:town.test"], false).await?;
        let _rooms = crate::support::rooms::AdaRooms::set(t, &room)?;
        t.sh("systemctl start townhall && townhall reset --yes --by losses >/dev/null 2>&1")?;
        let out = t.as_user(
            "ada",
            // A repository of its own in the (persisted) workspace, removed below: the
            // commit must not end up in what later checks push.
            &format!("[ -r ~/.profile ] && . ~/.profile; head -c 5000 /dev/zero > ~/lost-{nonce}.bin && git init -q ~/work/lost-{nonce} && cd ~/work/lost-{nonce} && git commit -q --allow-empty -m unpushed-{nonce}"),
        );
        ensure!(
            out.status.success(),
            "planting: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = t.sh("townhall reset --yes --by losses 2>&1")?;
        ensure!(
            !said.contains(&format!("lost-{nonce}")),
            "the confirmed reset walked ada's home before it began:\n{said}"
        );
        ensure!(
            said.contains("goes to each resident's rooms"),
            "the reset does not say where the losses go:\n{said}"
        );
        let msgs = mayor
            .wait_for(&room, "@ada:town.test", &format!("lost-{nonce}.bin"))
            .await?;
        let notice = msgs
            .iter()
            .find(|(b, _)| b.contains(&format!("lost-{nonce}")))
            .map(|(b, _)| b.clone())
            .unwrap_or_default();
        ensure!(
            notice.contains("ended") && notice.contains(&format!("unpushed-{nonce}")),
            "the notice: {notice}"
        );
        t.sh(&format!("rm -rf /persist/ada/work/lost-{nonce}"))?;
        Ok(())
    })
}
