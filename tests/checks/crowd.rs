//! A crowd: a town of ten residents from a generated config (tests/town/crowd.sh), booted
//! on its own. The mayor sends fifty messages to each in a burst, and townhall is restarted
//! in the middle of it: every message reaches a turn, in order per conversation, and none
//! is turned away.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, ensure};
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::ruma::events::{AnySyncMessageLikeEvent, AnySyncTimelineEvent};

use crate::checks::chat::block_on;
use crate::support::mayor::Mayor;
use crate::support::town::{Options, Town, repo, shipped_units};

const RESIDENTS: usize = 10;
const MESSAGES: usize = 50;

/// Boot the crowd town in `run`, with the shipped units and the stand-in as every agent.
fn crowd(run: &Path, config: &Path) -> anyhow::Result<Town> {
    let made = std::process::Command::new("bash")
        .arg(repo().join("tests/town/crowd.sh"))
        .arg(config)
        .arg(RESIDENTS.to_string())
        .arg(r#"["/usr/local/bin/standin"]"#)
        .status()?;
    ensure!(made.success(), "tests/town/crowd.sh failed");
    let t = Town::up(
        run,
        Options {
            config: Some(config),
            units: shipped_units(),
            ..Options::default()
        },
    )?;
    std::fs::copy(
        repo().join("tests/town/standin/standin"),
        t.run.join("root/usr/local/bin/standin"),
    )
    .context("installing the stand-in")?;
    Ok(t)
}

/// Until every resident's bot syncs.
fn all_online(t: &Town) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let status: serde_json::Value = serde_json::from_str(&t.sh("townhall status --json")?)?;
        let residents = status["residents"]
            .as_array()
            .context("no residents in status")?;
        let online = residents.iter().filter(|r| r["chat"] == "syncing").count();
        if online == RESIDENTS {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "only {online} of {RESIDENTS} bots online after 120 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What `from` said in the room over the whole history, oldest first: each message as
/// its last edit left it (what the mayor reads once an answer is done).
async fn all_said(mayor: &Mayor, room: &OwnedRoomId, from: &str) -> anyhow::Result<Vec<String>> {
    use matrix_sdk::ruma::events::room::message::Relation;
    let r = mayor
        .client
        .get_room(room)
        .context("room not known to the client")?;
    let (mut events, mut token) = (Vec::new(), None);
    loop {
        let mut opts = MessagesOptions::backward().from(token.as_deref());
        opts.limit = 100u32.into();
        let batch = r.messages(opts).await?;
        for ev in &batch.chunk {
            if let Ok(AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(m))) =
                ev.raw().deserialize()
                && m.sender().as_str() == from
                && let Some(o) = m.as_original()
            {
                let edit = match &o.content.relates_to {
                    Some(Relation::Replacement(re)) => Some((
                        re.event_id.to_string(),
                        re.new_content.msgtype.body().to_string(),
                    )),
                    _ => None,
                };
                events.push((o.event_id.to_string(), o.content.body().to_string(), edit));
            }
        }
        match batch.end {
            Some(end) if !batch.chunk.is_empty() => token = Some(end),
            _ => break,
        }
    }
    events.reverse();
    let mut said: Vec<(String, String)> = Vec::new();
    for (id, body, edit) in events {
        match edit {
            Some((of, text)) => {
                if let Some(m) = said.iter_mut().find(|(i, _)| *i == of) {
                    m.1 = text;
                }
            }
            None => said.push((id, body)),
        }
    }
    Ok(said.into_iter().map(|(_, b)| b).collect())
}

/// Each message first appears after every earlier one: in order, none missing. Repeats
/// (an interrupted turn given again) are allowed.
fn in_order(said: &[String], tag: &str) -> anyhow::Result<()> {
    let text = said.join("\n");
    let mut next = 1;
    let mut rest = text.as_str();
    while let Some(i) = rest.find(tag) {
        rest = &rest[i + tag.len()..];
        let n: usize = rest
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or(0);
        ensure!(n <= next, "message {n} came before message {next}:\n{text}");
        if n == next {
            next += 1;
        }
    }
    ensure!(
        next == MESSAGES + 1,
        "message {next} never reached a turn:\n{text}"
    );
    Ok(())
}

pub fn a_burst_to_ten_residents_loses_none_across_a_restart(run: &Path) -> anyhow::Result<()> {
    let config = tempfile::tempdir()?;
    let t = crowd(run, config.path())?;
    all_online(&t)?;
    let names: Vec<String> = (1..=RESIDENTS)
        .map(|i| format!("@r{i:02}:town.test"))
        .collect();
    block_on(async {
        let mayor = Mayor::login(&t.mayor()?).await?;
        let mut rooms = Vec::new();
        for n in &names {
            let room = mayor
                .create(&format!("crowd {n}"), &[n.as_str()], true, false)
                .await?;
            rooms.push(room);
        }
        for (room, n) in rooms.iter().zip(&names) {
            mayor.wait_joined(room, &[n.as_str()]).await?;
        }
        let burst = |from: usize, to: usize| {
            let (mayor, rooms) = (&mayor, &rooms);
            futures_util::future::try_join_all(rooms.iter().map(move |room| async move {
                for i in from..=to {
                    mayor.send(room, &format!("burst {i:02}")).await?;
                }
                anyhow::Ok(())
            }))
        };
        burst(1, MESSAGES / 2).await?;
        // The supervisor restarts while the second half is sent, once turns run.
        let restart = {
            let run = t.run.clone();
            let script = "until townhall status --json | grep -q '\"running_secs\"'; do sleep 0.05; done; systemctl restart townhall";
            std::thread::spawn(move || {
                std::process::Command::new("bash")
                    .arg(repo().join("tests/town/town.sh"))
                    .args(["exec", "sh", "-c", script])
                    .env("TOWN_RUN", run)
                    .status()
            })
        };
        burst(MESSAGES / 2 + 1, MESSAGES).await?;
        ensure!(
            restart.join().expect("restart thread")?.success(),
            "restarting townhall failed"
        );
        let last = format!("burst {MESSAGES:02}");
        let mut again = 0;
        for (room, n) in rooms.iter().zip(&names) {
            mayor
                .wait_for(room, n, &last)
                .await
                .with_context(|| format!("{n} never answered the last message"))?;
            let said = all_said(&mayor, room, n).await?;
            let all = said.join("\n");
            for refused in [
                "not kept",
                "send it again",
                "could not run",
                "send the message again",
            ] {
                ensure!(
                    !all.contains(refused),
                    "{n} turned a message away ({refused}):\n{all}"
                );
            }
            in_order(&said, "burst ").with_context(|| format!("in {n}'s room"))?;
            again += said
                .iter()
                .filter(|b| b.contains("townhall restarted while your turn"))
                .count();
        }
        // The turns the restart interrupted ran again, told so.
        ensure!(
            again > 0,
            "no turn was interrupted by the restart, so none ran again"
        );
        anyhow::Ok(())
    })?;
    let restarts = t.sh("systemctl show -p NRestarts --value townhall townhall-chat")?;
    ensure!(
        restarts.split_whitespace().all(|n| n == "0"),
        "a townhall unit restarted on its own: {restarts}"
    );
    Ok(())
}
