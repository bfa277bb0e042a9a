//! `townhall bench chat`: in a running town whose resident answers `stamp` with the time it
//! started (the test stand-in does), how long (a) the mayor's message takes to start the
//! CLI and (b) the CLI's first line takes to reach the mayor's sync, beside (c) Synapse's
//! own delivery from one client to another in the same room, measured in the same run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::process::ExitCode;

use anyhow::Context;
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoom;
use matrix_sdk::ruma::events::room::message::{
    OriginalSyncRoomMessageEvent, RoomMessageEventContent,
};
use matrix_sdk::ruma::{OwnedRoomId, OwnedUserId};

#[derive(serde::Deserialize)]
pub struct Credentials {
    pub homeserver: String,
    pub user: String,
    pub password: String,
}

#[derive(Debug, serde::Serialize)]
pub struct Figures {
    pub runs: usize,
    /// p50, p95 in ms.
    pub send_to_cli_start: (f64, f64),
    pub first_line_to_mayor: (f64, f64),
    pub synapse_client_to_client: (f64, f64),
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

async fn login(c: &Credentials) -> anyhow::Result<Client> {
    let client = Client::builder()
        .homeserver_url(&c.homeserver)
        .build()
        .await?;
    client
        .matrix_auth()
        .login_username(&c.user, &c.password)
        .initial_device_display_name("townhall bench")
        .send()
        .await
        .with_context(|| format!("logging in as {}", c.user))?;
    client
        .sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
        .await?;
    Ok(client)
}

fn pct(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (
        (at(0.5) * 10.0).round() / 10.0,
        (at(0.95) * 10.0).round() / 10.0,
    )
}

/// Every message body the client's sync brings, with when it was seen.
fn watch(client: &Client) -> Arc<Mutex<HashMap<String, f64>>> {
    let seen: Arc<Mutex<HashMap<String, f64>>> = Default::default();
    let log = seen.clone();
    client.add_event_handler(move |ev: OriginalSyncRoomMessageEvent| {
        let log = log.clone();
        async move {
            log.lock()
                .expect("lock")
                .entry(ev.content.body().to_string())
                .or_insert_with(now);
        }
    });
    let c = client.clone();
    // Its own loop, as Element's is: `Client::sync` sleeps a second before a sync that
    // follows another within a second, which would add up to a second to what is measured.
    tokio::spawn(async move {
        loop {
            if c.sync_once(SyncSettings::default().timeout(Duration::from_secs(30)))
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    seen
}

async fn seen(
    log: &Mutex<HashMap<String, f64>>,
    want: impl Fn(&str) -> bool,
) -> anyhow::Result<(String, f64)> {
    let deadline = now() + 60.0;
    loop {
        if let Some((b, t)) = log.lock().expect("lock").iter().find(|(b, _)| want(b)) {
            return Ok((b.clone(), *t));
        }
        anyhow::ensure!(now() < deadline, "nothing came in 60 s");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub async fn chat(
    mayor: &Credentials,
    other: &Credentials,
    resident: &str,
    runs: usize,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Figures> {
    let (m, o) = (login(mayor).await?, login(other).await?);
    let mut req = CreateRoom::new();
    req.name = Some("townhall bench chat".into());
    req.invite = vec![
        OwnedUserId::try_from(resident)?,
        OwnedUserId::try_from(other.user.as_str())?,
    ];
    let room: OwnedRoomId = m.create_room(req).await?.room_id().to_owned();
    progress("waiting for the resident and the other client to join");
    o.sync_once(SyncSettings::default().timeout(Duration::from_secs(5)))
        .await?;
    o.join_room_by_id(&room).await?;
    let log = watch(&m);
    let _other_sync = watch(&o);
    // Counted from the member list: the room summary lags behind joins.
    let deadline = now() + 60.0;
    let mr = loop {
        if let Some(r) = m.get_room(&room)
            && r.members(matrix_sdk::RoomMemberships::JOIN)
                .await
                .map(|m| m.len())
                .unwrap_or(0)
                >= 3
        {
            break r;
        }
        anyhow::ensure!(
            now() < deadline,
            "the resident and the other client did not both join in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let or = o.get_room(&room).context("the other client has no room")?;
    let (mut a, mut b, mut c) = (vec![], vec![], vec![]);
    // Synapse is one Python process: a send that lands while it still fans out the last
    // run's events (to three syncing clients) waits for it. Each figure starts from a quiet
    // server, as a mayor's next message usually does.
    let quiet = || tokio::time::sleep(Duration::from_millis(500));
    for i in 0..runs {
        progress(&format!("run {}/{runs}", i + 1));
        quiet().await;
        let bare = format!("bare {i}");
        let t0 = now();
        or.send(RoomMessageEventContent::text_plain(&bare)).await?;
        let (_, t) = seen(&log, |x| x == bare).await?;
        c.push((t - t0) * 1e3);
        quiet().await;
        // "resident: stamp N": the stand-in's first line is "stamp-reply N START PRINTED".
        let t1 = now();
        mr.send(RoomMessageEventContent::text_plain(format!(
            "{}: stamp {i}",
            resident
                .trim_start_matches('@')
                .split(':')
                .next()
                .unwrap_or("")
        )))
        .await?;
        let tag = format!("stamp-reply {i} ");
        let (body, t) = seen(&log, |x| x.starts_with(&tag)).await?;
        let times: Vec<f64> = body[tag.len()..]
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        let [started, printed] = times[..] else {
            anyhow::bail!("no start and print times in {body:?}")
        };
        a.push((started - t1) * 1e3);
        b.push((t - printed) * 1e3);
    }
    Ok(Figures {
        runs,
        send_to_cli_start: pct(&mut a),
        first_line_to_mayor: pct(&mut b),
        synapse_client_to_client: pct(&mut c),
    })
}

/// `townhall bench chat`: run it, print the figures.
pub fn run(
    mayor: &std::path::Path,
    other: &std::path::Path,
    resident: &str,
    runs: usize,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let read = |p: &std::path::Path| -> anyhow::Result<Credentials> {
        Ok(serde_json::from_slice(
            &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        )?)
    };
    let (m, o) = (read(mayor)?, read(other)?);
    let f = tokio::runtime::Runtime::new()?.block_on(chat(&m, &o, resident, runs, &mut |s| {
        eprintln!("bench: {s}")
    }))?;
    if json {
        super::print_json(&f);
    } else {
        println!("{} runs, ms             p50      p95", f.runs);
        println!(
            "(a) send → CLI started   {:>7.1}  {:>7.1}",
            f.send_to_cli_start.0, f.send_to_cli_start.1
        );
        println!(
            "(b) first line → mayor  {:>7.1}  {:>7.1}",
            f.first_line_to_mayor.0, f.first_line_to_mayor.1
        );
        println!(
            "(c) Synapse client→client {:>5.1}  {:>7.1}",
            f.synapse_client_to_client.0, f.synapse_client_to_client.1
        );
    }
    Ok(ExitCode::SUCCESS)
}
