//! The foundation in the real town: systemd, Synapse, btrfs, the daemon and its socket.

use anyhow::{Context, ensure};

use crate::support::mayor::Mayor;
use crate::support::town::Town;

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

pub fn systemd_is_pid1_and_running(t: &Town) -> anyhow::Result<()> {
    let comm = t.sh("cat /proc/1/comm")?;
    ensure!(comm.trim() == "systemd", "PID 1 is {comm:?}");
    let state = t.sh("systemctl is-system-running || true")?;
    ensure!(
        state.trim() == "running",
        "is-system-running says {state:?}"
    );
    Ok(())
}

pub fn synapse_answers_and_the_mayor_logs_in(t: &Town) -> anyhow::Result<()> {
    let creds = t.mayor()?;
    block_on(async {
        let versions = reqwest_versions(&creds.homeserver).await?;
        ensure!(
            versions.contains("\"versions\""),
            "/_matrix/client/versions answered {versions}"
        );
        let mayor = Mayor::login(&creds).await?;
        let room = mayor.create_room("town hall").await?;
        mayor.send(&room, "hello, town").await?;
        let msgs = mayor.messages(&room).await?;
        ensure!(
            msgs.iter()
                .any(|(from, body)| from == &creds.user && body == "hello, town"),
            "the mayor's message is not in the room: {msgs:?}"
        );
        Ok(())
    })
}

/// A plain HTTP GET with the client matrix-sdk itself uses, as Element would do first.
async fn reqwest_versions(homeserver: &str) -> anyhow::Result<String> {
    let url = format!("{homeserver}/_matrix/client/versions");
    let client = matrix_sdk::reqwest::Client::new();
    Ok(client
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

pub fn both_subvolumes_exist_on_the_btrfs(t: &Town) -> anyhow::Result<()> {
    let fs = t.sh("stat -f -c %T /town/@agents /persist")?;
    ensure!(fs.lines().all(|l| l == "btrfs"), "not btrfs: {fs}");
    let list = t.sh("btrfs subvolume list /town")?;
    for want in ["@agents", "@agents-blank", "@persist"] {
        ensure!(
            list.lines().any(|l| l.ends_with(&format!(" path {want}"))),
            "no subvolume {want} in:\n{list}"
        );
    }
    let ro = t.sh("btrfs property get -ts /town/@agents-blank ro")?;
    ensure!(ro.trim() == "ro=true", "the blank is not read-only: {ro}");
    let agents = t.sh("readlink -f /agents")?;
    ensure!(
        agents.trim() == "/town/@agents",
        "/agents resolves to {agents}"
    );
    Ok(())
}

pub fn the_daemon_runs_as_a_service_and_reports_status(t: &Town) -> anyhow::Result<()> {
    let active = t.sh("systemctl is-active townhall")?;
    ensure!(active.trim() == "active", "townhall.service is {active}");
    let status = t.sh("townhall status")?;
    ensure!(
        status.contains("serving town demo"),
        "status said: {status}"
    );
    let json: serde_json::Value = serde_json::from_str(&t.sh("townhall status --json")?)?;
    ensure!(
        json["residents"].as_array().map(Vec::len) == Some(2),
        "status --json: {json}"
    );
    let logs = t.journal(&["-u", "townhall", "-o", "cat"]);
    ensure!(
        logs.contains("townhall is serving"),
        "journal of townhall.service: {logs}"
    );
    Ok(())
}

pub fn status_says_how_to_start_a_stopped_daemon(t: &Town) -> anyhow::Result<()> {
    t.sh("systemctl stop townhall")?;
    let out = t.exec(&["townhall", "status"]);
    t.sh("systemctl start townhall")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(3),
        "exit {:?}, stderr {stderr}",
        out.status.code()
    );
    ensure!(
        stderr.contains("not running") && stderr.contains("systemctl start townhall"),
        "stderr: {stderr}"
    );
    Ok(())
}

pub fn the_control_socket_is_root_only(t: &Town) -> anyhow::Result<()> {
    t.sh("id stranger >/dev/null 2>&1 || useradd -u 2000 -m stranger")?;
    let mode = t.sh("stat -c %a /run/townhall")?;
    ensure!(mode.trim() == "700", "/run/townhall has mode {mode}");
    let out = t.as_user("stranger", "townhall status");
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success(),
        "a non-root user got a status: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    ensure!(stderr.contains("only root"), "stderr: {stderr}");
    Ok(())
}

pub fn check_runs_inside_on_the_installed_config(t: &Town) -> anyhow::Result<()> {
    let out = t.sh("townhall check --json")?;
    let json: serde_json::Value = serde_json::from_str(&out).context("check --json")?;
    ensure!(json["name"] == "demo", "{json}");
    Ok(())
}
