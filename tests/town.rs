//! Town tests: boot a real town (systemd as PID 1 in a container, btrfs on a loop device,
//! Synapse on loopback, host udevd) and drive it as a user would. Needs root.
//!
//! One town is booted for all trials (booting takes ~30 s), then torn down; the last trials
//! check that teardown left nothing behind, after success and after a failed start.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, ensure};
use libtest_mimic::{Arguments, Failed, Trial};
use support::mayor::Mayor;
use support::town::{self, Options, Town};

fn run_dir(tag: &str) -> PathBuf {
    std::env::var_os("TOWN_RUN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/tmp/townhall-town")).with_extension(tag)
}

type Check = fn(&Town) -> anyhow::Result<()>;

fn trial(town: &Arc<Town>, name: &'static str, check: Check) -> Trial {
    let town = town.clone();
    Trial::test(name, move || check(&town).map_err(|e| Failed::from(format!("{e:#}"))))
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn systemd_is_pid1_and_running(t: &Town) -> anyhow::Result<()> {
    let comm = t.sh("cat /proc/1/comm")?;
    ensure!(comm.trim() == "systemd", "PID 1 is {comm:?}");
    let state = t.sh("systemctl is-system-running || true")?;
    ensure!(state.trim() == "running", "is-system-running says {state:?}");
    Ok(())
}

fn synapse_answers_and_the_mayor_logs_in(t: &Town) -> anyhow::Result<()> {
    let creds = t.mayor()?;
    block_on(async {
        let versions = reqwest_versions(&creds.homeserver).await?;
        ensure!(versions.contains("\"versions\""), "/_matrix/client/versions answered {versions}");
        let mayor = Mayor::login(&creds).await?;
        let room = mayor.create_room("town hall").await?;
        mayor.send(&room, "hello, town").await?;
        let msgs = mayor.messages(&room).await?;
        ensure!(
            msgs.iter().any(|(from, body)| from == &creds.user && body == "hello, town"),
            "the mayor's message is not in the room: {msgs:?}"
        );
        Ok(())
    })
}

/// A plain HTTP GET with the client matrix-sdk itself uses, as Element would do first.
async fn reqwest_versions(homeserver: &str) -> anyhow::Result<String> {
    let url = format!("{homeserver}/_matrix/client/versions");
    let client = matrix_sdk::reqwest::Client::new();
    Ok(client.get(&url).send().await?.error_for_status()?.text().await?)
}

fn both_subvolumes_exist_on_the_btrfs(t: &Town) -> anyhow::Result<()> {
    let fs = t.sh("stat -f -c %T /town/@agents /persist")?;
    ensure!(fs.lines().all(|l| l == "btrfs"), "not btrfs: {fs}");
    let list = t.sh("btrfs subvolume list /town")?;
    for want in ["@agents", "@agents-blank", "@persist"] {
        ensure!(list.lines().any(|l| l.ends_with(&format!(" path {want}"))), "no subvolume {want} in:\n{list}");
    }
    let ro = t.sh("btrfs property get -ts /town/@agents-blank ro")?;
    ensure!(ro.trim() == "ro=true", "the blank is not read-only: {ro}");
    let agents = t.sh("readlink -f /agents")?;
    ensure!(agents.trim() == "/town/@agents", "/agents resolves to {agents}");
    Ok(())
}

fn the_daemon_runs_as_a_service_and_reports_status(t: &Town) -> anyhow::Result<()> {
    let active = t.sh("systemctl is-active townhall")?;
    ensure!(active.trim() == "active", "townhall.service is {active}");
    let status = t.sh("townhall status")?;
    ensure!(status.contains("serving town demo"), "status said: {status}");
    let json: serde_json::Value = serde_json::from_str(&t.sh("townhall status --json")?)?;
    ensure!(json["residents"].as_array().map(Vec::len) == Some(2), "status --json: {json}");
    let logs = t.journal(&["-u", "townhall", "-o", "cat"]);
    ensure!(logs.contains("townhall is serving"), "journal of townhall.service: {logs}");
    Ok(())
}

fn status_says_how_to_start_a_stopped_daemon(t: &Town) -> anyhow::Result<()> {
    t.sh("systemctl stop townhall")?;
    let out = t.exec(&["townhall", "status"]);
    t.sh("systemctl start townhall")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.code() == Some(3), "exit {:?}, stderr {stderr}", out.status.code());
    ensure!(stderr.contains("not running") && stderr.contains("systemctl start townhall"), "stderr: {stderr}");
    Ok(())
}

fn the_control_socket_is_root_only(t: &Town) -> anyhow::Result<()> {
    t.sh("id stranger >/dev/null 2>&1 || useradd -u 2000 -m stranger")?;
    let mode = t.sh("stat -c %a /run/townhall")?;
    ensure!(mode.trim() == "700", "/run/townhall has mode {mode}");
    let out = t.as_user("stranger", "townhall status");
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "a non-root user got a status: {}", String::from_utf8_lossy(&out.stdout));
    ensure!(stderr.contains("only root"), "stderr: {stderr}");
    Ok(())
}

fn check_runs_inside_on_the_installed_config(t: &Town) -> anyhow::Result<()> {
    let out = t.sh("townhall check --json")?;
    let json: serde_json::Value = serde_json::from_str(&out).context("check --json")?;
    ensure!(json["name"] == "demo", "{json}");
    Ok(())
}

fn a_reboot_comes_back_running(t: &Town) -> anyhow::Result<()> {
    let boot_before = t.sh("cat /proc/sys/kernel/random/boot_id; journalctl --list-boots --no-pager | wc -l")?;
    t.reboot()?;
    systemd_is_pid1_and_running(t)?;
    let boots = t.sh("journalctl --list-boots --no-pager | wc -l")?;
    let before: usize = boot_before.lines().last().unwrap_or("0").trim().parse()?;
    ensure!(boots.trim().parse::<usize>()? == before + 1, "journal boots: {before} then {boots}");
    t.sh("townhall status")?;
    Ok(())
}

fn nothing_is_left(run: &Path) -> Result<(), Failed> {
    let left = town::leftovers(run);
    if left.is_empty() { Ok(()) } else { Err(format!("left behind:\n{}", left.join("\n")).into()) }
}

fn a_failed_start_is_torn_down(run: PathBuf) -> Result<(), Failed> {
    // A unit that fails at boot leaves the town degraded: `up` fails after the loop device,
    // mounts, Synapse and the container all exist.
    let dir = tempfile::tempdir()?;
    let unit = dir.path().join("townhall-broken.service");
    std::fs::write(&unit, "[Service]\nType=oneshot\nExecStart=/bin/false\n[Install]\nWantedBy=multi-user.target\n")?;
    let up = Town::up(&run, Options { units: vec![unit], ..Options::default() });
    let Err(_) = up else { return Err("a town with a failing unit came up".into()) };
    town::down(&run).map_err(|e| format!("{e:#}"))?;
    nothing_is_left(&run)
}

fn main() {
    let args = Arguments::from_args();
    let root = nix::unistd::geteuid().is_root();
    let checks: [(&str, Check); 8] = [
        ("systemd_is_pid1_and_running", systemd_is_pid1_and_running),
        ("synapse_answers_and_the_mayor_logs_in", synapse_answers_and_the_mayor_logs_in),
        ("both_subvolumes_exist_on_the_btrfs", both_subvolumes_exist_on_the_btrfs),
        ("the_daemon_runs_as_a_service_and_reports_status", the_daemon_runs_as_a_service_and_reports_status),
        ("status_says_how_to_start_a_stopped_daemon", status_says_how_to_start_a_stopped_daemon),
        ("the_control_socket_is_root_only", the_control_socket_is_root_only),
        ("check_runs_inside_on_the_installed_config", check_runs_inside_on_the_installed_config),
        ("a_reboot_comes_back_running", a_reboot_comes_back_running),
    ];
    if !root || args.list {
        eprintln!("town tests need root: listed as ignored");
        let trials = checks.iter().map(|(n, _)| Trial::test(*n, || Ok(())).with_ignored_flag(true)).collect();
        libtest_mimic::run(&args, trials).exit();
    }

    let run = run_dir("main");
    let unit = town::repo().join("dist/townhall.service");
    let booted = Town::up(&run, Options { units: vec![unit], ..Options::default() });
    let mut conclusion = match booted {
        Ok(town) => {
            let town = Arc::new(town);
            let trials = checks.iter().map(|(n, c)| trial(&town, n, *c)).collect();
            let mut a = args.clone();
            a.test_threads = Some(1);
            let c = libtest_mimic::run(&a, trials);
            let mut town = Arc::into_inner(town).expect("trials are done");
            if let Err(e) = town.down() {
                eprintln!("teardown: {e:#}");
            }
            c
        }
        Err(e) => {
            eprintln!("the town did not come up: {e:#}");
            let _ = town::down(&run);
            let trials = checks.iter().map(|(n, _)| {
                let msg = format!("the town did not come up: {e:#}");
                Trial::test(*n, move || Err(msg.clone().into()))
            });
            libtest_mimic::run(&args, trials.collect())
        }
    };

    let failed_run = run_dir("failed");
    let after = vec![
        Trial::test("teardown_leaves_no_mount_loop_container_or_synapse", move || nothing_is_left(&run)),
        Trial::test("a_failed_start_is_torn_down_too", move || a_failed_start_is_torn_down(failed_run.clone())),
    ];
    let mut a = args.clone();
    a.test_threads = Some(1);
    let c2 = libtest_mimic::run(&a, after);
    conclusion.num_failed += c2.num_failed;
    conclusion.num_passed += c2.num_passed;
    conclusion.exit();
}
