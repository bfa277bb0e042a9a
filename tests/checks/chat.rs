//! What every chat check in the real town stands on: Synapse on loopback, the mayor as a
//! real Matrix client, each resident answering from its own Matrix identity (ada runs the
//! stand-in `command` CLI, vox the stand-in as `claude`; see turns::setup). Here: a
//! runtime, rooms with the residents, more Matrix users, the audit log read from a mark,
//! and a bot waited for until it syncs.

use std::time::Duration;

use anyhow::ensure;

use matrix_sdk::ruma::OwnedRoomId;

use crate::support::mayor::{Credentials, Mayor};
use crate::support::town::Town;

pub(crate) const ADA: &str = "@ada:town.test";
pub(crate) const VOX: &str = "@vox:town.test";

pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Register another Matrix user on the town's Synapse (a stranger, say).
pub(crate) fn register(t: &Town, user: &str, password: &str) -> anyhow::Result<Credentials> {
    let cache = std::env::var("TOWNHALL_CACHE").unwrap_or_else(|_| "/var/cache/townhall".into());
    let out = std::process::Command::new(format!("{cache}/synapse-venv/bin/python"))
        .args(["-m", "synapse._scripts.register_new_matrix_user", "-c"])
        .arg(t.run.join("synapse/hs.yaml"))
        .args([
            "-u",
            user,
            &format!("--password={password}"),
            "--no-admin",
            "http://127.0.0.1:8008",
        ])
        .output()?;
    // Registered by an earlier check: the same user, the same password.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success() || said.contains("User ID already taken"),
        "registering {user}: {said}"
    );
    Ok(Credentials {
        homeserver: "http://127.0.0.1:8008".into(),
        user: format!("@{user}:town.test"),
        password: password.into(),
    })
}

/// The mayor, logged in, in a new encrypted DM with `user` once it has joined.
pub(crate) async fn encrypted_dm(
    t: &Town,
    name: &str,
    user: &str,
) -> anyhow::Result<(Mayor, OwnedRoomId)> {
    let mayor = Mayor::login(&t.mayor()?).await?;
    let room = mayor.create(name, &[user], true, true).await?;
    mayor.wait_joined(&room, &[user]).await?;
    Ok((mayor, room))
}

/// The mayor, logged in, in a new room with `users` once they have all joined.
pub(crate) async fn room_with(
    t: &Town,
    name: &str,
    users: &[&str],
    direct: bool,
) -> anyhow::Result<(Mayor, OwnedRoomId)> {
    let mayor = Mayor::login(&t.mayor()?).await?;
    let room = mayor.create(name, users, direct, false).await?;
    mayor.wait_joined(&room, users).await?;
    Ok((mayor, room))
}

/// Where the audit log ends now: `audit` reads only what a check caused after it.
pub(crate) fn audit_mark(t: &Town) -> anyhow::Result<u64> {
    Ok(
        t.sh("stat -c %s /var/lib/townhall/audit.log 2>/dev/null || echo 0")?
            .trim()
            .parse()?,
    )
}

/// The audit log's `event` lines written after `since` (an `audit_mark`).
pub(crate) fn audit(t: &Town, event: &str, since: u64) -> anyhow::Result<String> {
    t.sh(&format!(
        "tail -c +{} /var/lib/townhall/audit.log | grep '\"event\":\"{event}\"' || true",
        since + 1
    ))
}

/// Wait (up to 60 s) until `resident`'s bot is syncing: in a town just booted it is still
/// logging in.
pub(crate) fn online(t: &Town, resident: &str) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status: serde_json::Value = serde_json::from_str(&t.sh("townhall status --json")?)?;
        let chat = status["residents"]
            .as_array()
            .and_then(|r| r.iter().find(|x| x["name"] == resident))
            .map(|x| x["chat"].clone());
        if chat.as_ref().and_then(|c| c.as_str()) == Some("syncing") {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{resident}'s bot is not syncing: {chat:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
