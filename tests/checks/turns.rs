//! Turns in the real town: the stand-in CLI as a transient unit in each resident's own
//! systemd user manager, started over D-Bus, output streamed back through the daemon.

use anyhow::{Context, ensure};

use crate::support::town::{Town, repo};

/// Install the stand-in CLI and make ada a `command` agent (3 s timeout) and vox a `claude`
/// agent, both running the stand-in; then restart the daemon on that config. Idempotent:
/// a town already set up is left as it is (restarting the daemon for every check would hit
/// systemd's start limit).
pub fn setup(t: &Town) -> anyhow::Result<()> {
    let dest = t.run.join("root/usr/local/bin/standin");
    std::fs::copy(repo().join("tests/town/standin/standin"), &dest)
        .context("installing the stand-in")?;
    let ada = std::fs::read_to_string(t.run.join("root/etc/townhall/residents/ada.toml"))?;
    let active = t.sh("systemctl is-active townhall || true")?;
    if ada.contains("argv = [\"/usr/local/bin/standin\"]") && active.trim() == "active" {
        return Ok(());
    }
    t.sh(
        r#"set -e
chown ada /run/secrets/townhall/ada-anthropic.env && chown vox /run/secrets/townhall/vox-gemini.env
cd /etc/townhall/residents
sed -i -e 's|^kind = "claude"|kind = "command"|' -e 's|^argv = .*|argv = ["/usr/local/bin/standin"]|' -e 's|^turn_timeout = .*|turn_timeout = "3s"|' ada.toml
sed -i -e 's|^kind = "gemini"|kind = "claude"\nargv = ["/usr/local/bin/standin"]|' vox.toml
townhall check >/dev/null && systemctl reset-failed townhall; systemctl restart townhall"#,
    )?;
    // Bring vox's user manager up now, so later timings measure turns, not its first start.
    t.sh("townhall turn vox warm-up >/dev/null 2>&1")?;
    Ok(())
}

/// (exit code, stdout, stderr) of `townhall turn …` inside the town.
fn turn(t: &Town, args: &str) -> anyhow::Result<(i32, String, String)> {
    let out = t.exec(&["sh", "-c", &format!("townhall turn {args}")]);
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// The newest stand-in record in a resident's home.
fn record(t: &Town, who: &str) -> anyhow::Result<String> {
    t.sh(&format!(
        "cat \"$(ls -t /agents/{who}/standin-record-* | head -n 1)\""
    ))
}

pub fn a_turn_runs_as_the_resident_in_its_user_manager(t: &Town) -> anyhow::Result<()> {
    setup(t)?;
    let (code, out, err) = turn(t, "ada hello there")?;
    ensure!(
        code == 0 && out.trim() == "you said: hello there",
        "exit {code}, out {out:?}, err {err}"
    );
    let rec = record(t, "ada")?;
    ensure!(
        rec.contains("uid 1100 gid 1100 groups 1100\n"),
        "not ada, or extra groups: {rec}"
    );
    ensure!(
        rec.contains("CapEff:\t0000000000000000") && rec.contains("CapPrm:\t0000000000000000"),
        "capabilities: {rec}"
    );
    ensure!(
        rec.contains("/user.slice/user-1100.slice/user@1100.service/"),
        "not in ada's user manager: {rec}"
    );
    ensure!(
        rec.contains("cwd /persist/ada/work"),
        "not in her workspace: {rec}"
    );
    ensure!(
        rec.contains("TRAFFIC=1 TOWNHALL_TEST_KEY=not-a-real-key"),
        "environment: {rec}"
    );
    let units = t.as_user(
        "ada",
        "systemctl --user list-units --all --no-legend 'townhall-turn-*'",
    );
    let left = String::from_utf8_lossy(&units.stdout);
    ensure!(
        units.status.success() && left.trim().is_empty(),
        "units left behind: {left}"
    );
    Ok(())
}

pub fn output_arrives_line_by_line(t: &Town) -> anyhow::Result<()> {
    setup(t)?;
    let stamped =
        t.sh("townhall turn ada slow | while read -r l; do echo \"$(date +%s.%N) $l\"; done")?;
    let times: Vec<f64> = stamped
        .lines()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    ensure!(times.len() == 3, "expected 3 lines: {stamped}");
    // The CLI sleeps a second between lines: had output been held until exit, all three
    // would arrive together.
    ensure!(
        times[2] - times[0] >= 1.5,
        "lines arrived together: {stamped}"
    );
    Ok(())
}

pub fn timeouts_stops_and_crashes_are_reported(t: &Town) -> anyhow::Result<()> {
    setup(t)?;
    let (code, _, err) = turn(t, "ada hang")?;
    ensure!(
        code == 1 && err.contains("timed out"),
        "hang: exit {code}, {err}"
    );
    let (code, _, err) = turn(t, "ada crash")?;
    ensure!(
        code == 1 && err.contains("exit status 3") && err.contains("about to crash"),
        "crash: exit {code}, {err}"
    );
    // `turn stop` ends a running turn within 2 s. A 60 s timeout for this part, so only the
    // stop can end it; the turn is stopped once `status` shows it running.
    let path = t.run.join("root/etc/townhall/residents/ada.toml");
    let declared = std::fs::read_to_string(&path)?;
    std::fs::write(
        &path,
        declared.replace("turn_timeout = \"3s\"", "turn_timeout = \"60s\""),
    )?;
    t.sh("townhall reload")?;
    let out = t.sh(
        "townhall turn --conversation long ada hang >/tmp/long.out 2>&1 & p=$!; \
         i=0; until townhall status | grep -q 'turn in long' || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done; \
         townhall turn stop ada; \
         i=0; while kill -0 $p 2>/dev/null && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done; \
         kill -0 $p 2>/dev/null && echo STILL-RUNNING; wait; cat /tmp/long.out",
    );
    std::fs::write(&path, &declared)?;
    t.sh("townhall reload")?;
    let out = out?;
    ensure!(
        !out.contains("STILL-RUNNING"),
        "the turn outlived `turn stop`: {out}"
    );
    ensure!(
        out.contains("stopped 1 running turn") && out.contains("turn stopped"),
        "stop: {out}"
    );
    Ok(())
}

pub fn residents_run_together_and_a_conversation_in_order(t: &Town) -> anyhow::Result<()> {
    setup(t)?;
    let out = t.sh(
        "townhall turn ada slow one >/tmp/a1 2>&1 & sleep 0.3; townhall turn ada slow two >/tmp/a2 2>&1 & \
         townhall turn --conversation other vox hi >/tmp/v 2>&1 & wait; cat /tmp/a1 /tmp/a2 /tmp/v",
    )?;
    ensure!(
        out.contains("[queued: 1 turn(s) ahead"),
        "the second message was not queued: {out}"
    );
    let recs = t.sh("for f in $(ls -tr /agents/ada/standin-record-* | tail -n 2); do grep -E '^(start|end)' $f; done")?;
    let v: Vec<f64> = recs
        .lines()
        .filter_map(|l| l.split(' ').nth(1)?.parse().ok())
        .collect();
    ensure!(
        v.len() == 4 && v[2] >= v[1],
        "ada's two turns overlapped: {recs}"
    );
    let vox = t.sh("grep ^start \"$(ls -t /agents/vox/standin-record-* | head -n 1)\"")?;
    let vs: f64 = vox.split(' ').nth(1).unwrap_or("0").trim().parse()?;
    ensure!(
        vs < v[1],
        "vox waited for ada (vox started {vs}, ada's first ended {})",
        v[1]
    );
    Ok(())
}

pub fn a_second_turn_resumes_the_session_and_new_starts_fresh(t: &Town) -> anyhow::Result<()> {
    setup(t)?;
    let (_, first, err) = turn(t, "--conversation s vox first")?;
    ensure!(first.contains("resumed none"), "first: {first} {err}");
    let sid = err
        .lines()
        .find_map(|l| l.strip_prefix("[session ")?.strip_suffix(']'))
        .context("no session")?;
    let (_, second, _) = turn(t, "--conversation s vox second")?;
    ensure!(
        second.contains(&format!("resumed {sid}")),
        "second turn did not resume {sid}: {second}"
    );
    let (_, fresh, _) = turn(t, "--conversation s --new vox third")?;
    ensure!(
        fresh.contains("resumed none"),
        "--new still resumed: {fresh}"
    );
    let mode = t.sh("stat -c '%a %U' /var/lib/townhall/sessions.json")?;
    ensure!(mode.trim() == "600 root", "sessions file: {mode}");
    Ok(())
}
