//! Turns the resident cannot loosen, and a supervisor the resident cannot hang or bloat:
//! hardening, limits held by PID 1, drop-ins refused, `stop` ending what a turn started,
//! a wedged session bus, a 200 MB line. Each check sets up the stand-in CLI itself.

use std::time::Duration;

use anyhow::ensure;

use crate::checks::levelling::install_probes;
use crate::support::town::Town;

/// Run `f` with ada's turn timeout at 60 s (the stand-in setup gives her 3 s), then put the
/// config back whatever `f` returned.
fn with_long_turns<T>(t: &Town, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let path = t.run.join("root/etc/townhall/residents/ada.toml");
    let declared = std::fs::read_to_string(&path)?;
    std::fs::write(
        &path,
        declared.replace("turn_timeout = \"3s\"", "turn_timeout = \"60s\""),
    )?;
    t.sh("townhall reload")?;
    let r = f();
    std::fs::write(&path, &declared)?;
    t.sh("townhall reload")?;
    r
}

/// (exit code, stdout, stderr) of a command inside the town as root.
fn run(t: &Town, script: &str) -> (i32, String, String) {
    let out = t.exec(&["sh", "-c", script]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn newest_record(t: &Town) -> anyhow::Result<String> {
    t.sh("cat \"$(ls -t /agents/ada/standin-record-* | head -n 1)\"")
}

pub fn turns_run_hardened_inside_limits_pid1_holds(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let (code, out, err) = run(t, "townhall turn ada hardened?");
    ensure!(
        code == 0 && out.contains("you said"),
        "turn: {code} {out} {err}"
    );
    let rec = newest_record(t)?;
    ensure!(
        rec.contains("NoNewPrivs:\t1"),
        "the turn may gain privileges: {rec}"
    );
    ensure!(rec.contains("umask 0077"), "the turn's umask: {rec}");
    // The limits sit on user@1100.service in PID 1 (ada.toml: 4G, 512 tasks) …
    let held =
        t.sh("systemctl show -p MemoryMax -p TasksMax -p NoNewPrivileges user@1100.service")?;
    for want in [
        "MemoryMax=4294967296",
        "TasksMax=512",
        "NoNewPrivileges=yes",
    ] {
        ensure!(held.contains(want), "PID 1 does not hold {want}: {held}");
    }
    // … where ada cannot lift them: not from a shell, not from inside a turn (where lifting
    // the turn unit's own limits in her manager succeeds and changes nothing that holds).
    let lift = t.as_user(
        "ada",
        "systemctl set-property --runtime user@1100.service MemoryMax=infinity TasksMax=infinity",
    );
    ensure!(!lift.status.success(), "ada lifted her manager's limits");
    let (_, out, err) = run(t, "townhall turn ada lift");
    ensure!(out.contains("refused by PID 1"), "from a turn: {out} {err}");
    let after = t.sh("systemctl show -p MemoryMax -p TasksMax user@1100.service")?;
    ensure!(
        after.contains("MemoryMax=4294967296") && after.contains("TasksMax=512"),
        "the limits changed: {after}"
    );
    Ok(())
}

pub fn drop_ins_ada_writes_do_not_change_a_turn(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    // Her manager runs (as after any turn), so she can reload it.
    crate::checks::levelling::ensure_manager(t)?;
    let dir = "~/.config/systemd/user/townhall-turn-.service.d";
    let plant = format!(
        "mkdir -p {dir} && printf '[Service]\\nExecStart=\\nExecStart=/bin/sh -c \"echo hijacked\"\\nMemoryMax=infinity\\n' > {dir}/x.conf && systemctl --user daemon-reload"
    );
    let out = t.as_user("ada", &plant);
    ensure!(
        out.status.success(),
        "planting the drop-in: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, out, err) = run(t, "townhall turn ada who runs");
    let _ = t.as_user(
        "ada",
        &format!("rm -rf {dir} && systemctl --user daemon-reload"),
    );
    ensure!(
        !out.contains("hijacked"),
        "the drop-in replaced the turn's ExecStart: {out}"
    );
    ensure!(
        code != 0 && err.contains("drop-ins apply"),
        "the turn was not refused with a reason: {code} {out} {err}"
    );
    let (code, out, _) = run(t, "townhall turn ada back to normal");
    ensure!(
        code == 0 && out.contains("you said: back to normal"),
        "without the drop-in: {code} {out}"
    );
    Ok(())
}

pub fn stop_ends_what_a_turn_started_in_her_manager(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let out = with_long_turns(t, || {
        t.sh(
            "townhall turn --conversation esc ada escape >/tmp/esc.out 2>&1 & \
             i=0; until pgrep -u 1100 -f 'sleep 7777' >/dev/null || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done; \
             townhall turn stop ada; wait; sleep 1; pgrep -u 1100 -fa 'sleep 7777' || echo NONE-LEFT",
        )
    })?;
    ensure!(
        out.contains("NONE-LEFT"),
        "a unit the turn started outlived `turn stop`: {out}"
    );
    // The next turn gets a fresh manager.
    let (code, out, err) = run(t, "townhall turn ada after the stop");
    ensure!(
        code == 0 && out.contains("you said: after the stop"),
        "after the stop: {code} {out} {err}"
    );
    Ok(())
}

pub fn a_wedged_bus_hangs_neither_the_reset_nor_vox(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    // As ada: her bus socket replaced by one that accepts connections and never answers,
    // served from inside her own manager (so it passes the peer check and only timeouts
    // can save the supervisor).
    let perl = "use Socket; socket(S, PF_UNIX, SOCK_STREAM, 0) or die; bind(S, pack_sockaddr_un(q{/run/user/1100/bus.wedge})) or die; listen(S, 64); while (accept(C, S)) { push @keep, *C; } sleep 100000";
    let wedge = format!(
        "systemd-run --user --quiet --unit=wedge perl -e '{perl}' && i=0; until [ -S /run/user/1100/bus.wedge ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i+1)); done; \
         cd /run/user/1100 && mv bus bus.real && mv bus.wedge bus && test -S bus"
    );
    t.sh("loginctl enable-linger ada && i=0; until [ -S /run/user/1100/bus ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done")?;
    let out = t.as_user("ada", &wedge);
    ensure!(
        out.status.success(),
        "wedging the bus: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It fails by itself, with an error (124 would be the guard's timeout: a hang).
    let (code, out, err) = run(t, "timeout 60 townhall turn ada are you there");
    ensure!(
        code != 0 && code != 124,
        "ada's turn on a wedged bus: exit {code} {out} {err}"
    );
    let (code, out, err) = run(t, "timeout 60 townhall turn vox still here");
    ensure!(
        code == 0 && out.contains("resumed"),
        "vox's turn beside a wedged ada: {code} {out} {err}"
    );
    let (code, out, err) = run(t, "timeout 120 townhall reset --yes --by probe 2>&1");
    ensure!(
        code == 0 && out.contains("begins"),
        "the reset with a wedged bus: exit {code} {out} {err}"
    );
    let (code, out, err) = run(t, "timeout 60 townhall turn ada back");
    ensure!(
        code == 0 && out.contains("you said: back"),
        "ada after the reset: {code} {out} {err}"
    );
    Ok(())
}

fn kib(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

pub fn a_200_mb_line_leaves_the_daemon_small_and_the_answer_bounded(
    t: &Town,
) -> anyhow::Result<()> {
    install_probes(t)?;
    let status = "cat /proc/$(systemctl show -p MainPID --value townhall)/status";
    let idle = kib(&t.sh(status)?, "VmRSS:");
    let (code, out, err) = run(t, "timeout 120 townhall turn ada flood | wc -c");
    let peak = kib(&t.sh(status)?, "VmHWM:");
    let bytes: u64 = out.trim().parse().unwrap_or(u64::MAX);
    ensure!(code == 0, "the flood turn: exit {code} {err}");
    ensure!(bytes <= 300 << 10, "the answer was {bytes} bytes");
    ensure!(
        err.contains("cut"),
        "no notice that the answer was cut: {err}"
    );
    ensure!(
        peak < idle + 100 * 1024,
        "peak RSS {peak} KiB vs idle {idle} KiB"
    );
    println!(
        "daemon idle RSS {idle} KiB, peak after a 200 MB line {peak} KiB; answer {bytes} bytes"
    );
    Ok(())
}

pub fn a_restarted_daemon_stops_the_turns_it_lost(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let hang = "townhall turn --conversation lost ada hang >/dev/null 2>&1 & i=0; until townhall status | grep -q 'turn in lost' || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done";
    let gone = |how: &str| -> anyhow::Result<()> {
        let mut left = String::new();
        for _ in 0..100 {
            left = String::from_utf8_lossy(
                &t.as_user(
                    "ada",
                    "systemctl --user list-units --no-legend 'townhall-turn-*'",
                )
                .stdout,
            )
            .into_owned();
            if left.trim().is_empty() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        anyhow::bail!("after {how}, the turn is still running: {left}")
    };
    with_long_turns(t, || {
        t.sh(hang)?;
        // The daemon stops by itself, never waiting out systemd's stop timeout for a hung
        // turn (PID 1 would log that it timed out and killed it).
        let since = t.sh("date '+%Y-%m-%d %H:%M:%S'")?;
        t.sh("systemctl restart townhall")?;
        let killed = t.sh(&format!(
            "journalctl -u townhall --since '{}' --no-pager -o cat | grep -i 'timed out' || true",
            since.trim()
        ))?;
        ensure!(
            killed.trim().is_empty(),
            "stopping the daemon waited for the hung turn: {killed}"
        );
        gone("a restart")?;
        // Killed outright, the daemon cannot stop its turns: the next one finds and stops them.
        t.sh(hang)?;
        t.sh("systemctl kill -s KILL townhall; sleep 1; i=0; until systemctl is-active -q townhall || [ $i -ge 100 ]; do sleep 0.2; i=$((i+1)); done; systemctl is-active townhall")?;
        gone("SIGKILL and a restart")
    })
}

pub fn the_host_check_names_what_a_town_needs(t: &Town) -> anyhow::Result<()> {
    // Read the kernel's real values, then compare with what `check --host` says.
    let symlinks = t.sh("cat /proc/sys/fs/protected_symlinks")?;
    let (code, out, err) = run(t, "townhall check --host");
    if symlinks.trim() == "0" {
        ensure!(
            code == 1 && out.contains("fs.protected_symlinks: 0 (missing)"),
            "check --host: {code} {out} {err}"
        );
        ensure!(
            out.contains("sysctl -w fs.protected_symlinks=1"),
            "no fix given: {out}"
        );
        let status = t.sh("townhall status")?;
        ensure!(
            status.contains("warning: the host lacks") && status.contains("fs.protected_symlinks"),
            "status: {status}"
        );
    }
    let json = t.sh("townhall check --host --json || true")?;
    let findings: serde_json::Value = serde_json::from_str(&json)?;
    ensure!(findings.is_array(), "--json: {json}");
    let hidepid = t.sh("grep -c ' /proc .*hidepid' /proc/self/mountinfo || true")?;
    ensure!(
        hidepid.trim() != "0" || out.contains("/proc hidepid"),
        "hidepid is off and not reported: {out}"
    );
    Ok(())
}

pub fn noisy_stderr_and_hostile_session_ids_stay_bounded(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let since = t.sh("date '+%Y-%m-%d %H:%M:%S'")?;
    let (code, out, err) = run(t, "townhall turn ada noisy");
    ensure!(
        code == 0 && out.contains("quiet now"),
        "noisy turn: {code} {out} {err}"
    );
    let logged = t.sh(&format!("journalctl -u townhall --since '{}' --no-pager -o cat | grep -c 'turn stderr: noise' || true", since.trim()))?;
    let n: u32 = logged.trim().parse()?;
    ensure!(
        n <= 50,
        "{n} stderr lines of one turn reached the supervisor's journal"
    );
    let summary = t.sh(&format!("journalctl -u townhall --since '{}' --no-pager -o cat | grep 'more line(s) not logged' || true", since.trim()))?;
    ensure!(
        summary.contains("4950 more line(s)"),
        "no count of the lines left out: {summary}"
    );
    // vox's CLI (the stand-in as claude) reports a session id made to escape a path.
    let (code, _, err) = run(t, "townhall turn --conversation evil vox badsession");
    ensure!(
        code == 0 && err.contains("ignored a session id"),
        "no notice about the session id: {code} {err}"
    );
    let sessions = t.sh("cat /var/lib/townhall/sessions.json")?;
    ensure!(
        !sessions.contains("evil session") && !sessions.contains("vox/evil"),
        "the id was kept: {sessions}"
    );
    Ok(())
}

/// What a turn prints reaches root's terminal as text: the escapes in ada's output and in
/// her stderr (shown when the turn fails) arrive written out, never as escape bytes.
pub fn a_turns_escapes_reach_roots_terminal_as_text(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let out = t.exec(&["sh", "-c", "townhall turn ada ansi"]);
    let all = [&out.stdout[..], &out.stderr[..]].concat();
    ensure!(
        String::from_utf8_lossy(&out.stdout).contains("done"),
        "the turn's answer: {}",
        String::from_utf8_lossy(&all)
    );
    ensure!(
        !all.contains(&0x1b) && !all.contains(&0x07),
        "escape bytes reached the terminal: {:?}",
        String::from_utf8_lossy(&all)
    );
    ensure!(
        String::from_utf8_lossy(&all).contains("\\u{1b}]0;owned"),
        "the escape is not shown as text: {}",
        String::from_utf8_lossy(&all)
    );
    Ok(())
}

/// What root runs as a resident after a reset (git in its workspace) runs as a unit of its
/// own in the resident's slice, not in townhall.service's cgroup.
pub fn helpers_root_runs_as_ada_run_in_her_slice(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let since = t.sh("date '+%Y-%m-%d %H:%M:%S'")?;
    t.sh("systemctl start townhall && townhall reset --yes --by helpers >/dev/null 2>&1")?;
    let slices = t.sh(&format!("journalctl --since '{}' -u 'townhall-helper-1100-*' -o verbose --no-pager | grep -o '_SYSTEMD_SLICE=[^ ]*\\|UNIT=townhall-helper-1100-[^ ]*' | sort -u || true", since.trim()))?;
    ensure!(
        slices.contains("UNIT=townhall-helper-1100-"),
        "no helper unit ran for ada after the reset:\n{slices}"
    );
    let ws =
        t.sh("git -c safe.directory='*' -C /agents/ada/work/work config remote.town.receivepack")?;
    ensure!(
        ws.trim() == "townhall push",
        "the workspace was not set up: {ws}"
    );
    Ok(())
}
