//! The privilege split in the real town: the Matrix bots run in `townhall-chat` as their own
//! user, root's daemon has no network, and the hall socket between them holds against other
//! uids and bad requests.

use anyhow::{Context, ensure};

use crate::checks::chat::{block_on, room_with};
use crate::support::town::{Town, repo};

const ADA: &str = "@ada:town.test";
const PROBES: &str = "/usr/local/lib/townhall-probes";
/// A hall request line at the hall's version: `fields` after the version.
fn line(fields: &str) -> String {
    format!(r#"{{"v":{},{fields}}}"#, townhall_wire::hall::VERSION)
}

fn status() -> String {
    line(r#""request":"status","resident":"ada""#)
}

/// The chat unit running, and the hall probe installed (idempotent).
fn chat_running(t: &Town) -> anyhow::Result<()> {
    let dir = t.run.join(format!("root{PROBES}"));
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(
        repo().join("tests/town/probes/hall.pl"),
        dir.join("hall.pl"),
    )
    .context("installing hall.pl")?;
    t.sh("systemctl start townhall townhall-chat && systemctl is-active townhall-chat")?;
    crate::checks::chat::online(t, "ada")
}

fn main_pid(t: &Town, unit: &str) -> anyhow::Result<String> {
    let pid = t
        .sh(&format!("systemctl show -p MainPID --value {unit}"))?
        .trim()
        .to_string();
    ensure!(pid != "0" && !pid.is_empty(), "{unit} has no main process");
    Ok(pid)
}

fn exposure(t: &Town, unit: &str) -> anyhow::Result<f64> {
    let out = t.sh(&format!(
        "systemd-analyze security --no-pager {unit} 2>&1 | grep 'Overall exposure level' || true"
    ))?;
    let figure = out
        .split(": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .with_context(|| format!("no exposure figure for {unit}: {out}"))?;
    Ok(figure.parse()?)
}

pub fn the_chat_runs_as_its_own_user_and_root_has_no_network(t: &Town) -> anyhow::Result<()> {
    chat_running(t)?;
    let (serve, chat) = (main_pid(t, "townhall")?, main_pid(t, "townhall-chat")?);
    let who = t.sh(&format!("ps -o pid=,user:32=,args= -p {serve},{chat}"))?;
    ensure!(
        who.lines()
            .any(|l| l.contains(&serve) && l.contains(" root ") && l.contains("townhall serve")),
        "ps: {who}"
    );
    ensure!(
        who.lines().any(|l| l.contains(&chat)
            && l.contains(" townhall-chat ")
            && l.contains("/usr/local/bin/townhall-chat --config")),
        "ps: {who}"
    );
    // Root cannot run the chat by mistake, by either name: it refuses before it reads a
    // message.
    for cmd in ["townhall chat", "townhall-chat"] {
        let as_root = t.sh(&format!(
            "timeout 20 {cmd} --config /etc/townhall 2>&1; echo rc=$?"
        ))?;
        ensure!(
            as_root.contains("refuses to run as root") && as_root.trim_end().ends_with("rc=1"),
            "{cmd} as root: {as_root}"
        );
    }
    // The chat holds the homeserver connections; root holds no internet socket at all.
    let mut inet = String::new();
    for _ in 0..50 {
        inet = t.sh("ss -tuanpH")?;
        if inet.contains(&format!("pid={chat},")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    ensure!(
        inet.contains(&format!("pid={chat},")),
        "the chat holds no TCP connection: {inet}"
    );
    ensure!(
        !inet.contains(&format!("pid={serve},")),
        "the root daemon holds an internet socket:\n{inet}"
    );
    let unix = t.sh(&format!("ss -xapH | grep -c 'pid={serve},' || true"))?;
    ensure!(
        unix.trim().parse::<u32>().unwrap_or(0) > 0,
        "ss shows no unix socket of the daemon either: is -p working?"
    );
    // The Matrix stores are the chat user's alone, and no resident reads its credentials.
    let store = t.sh("stat -c '%U %a' /var/lib/townhall-chat")?;
    ensure!(
        store.trim() == "townhall-chat 700",
        "/var/lib/townhall-chat is {store}"
    );
    t.sh("test -e /var/lib/townhall-chat/ada/session.json && test ! -e /var/lib/townhall/matrix")?;
    for probe in [
        "ls /var/lib/townhall-chat",
        "cat /run/credentials/townhall-chat.service/matrix-ada",
    ] {
        let out = t.as_user("ada", probe);
        ensure!(
            !out.status.success(),
            "ada ran `{probe}`: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    for (unit, most) in [
        ("townhall.service", 5.0),
        ("townhall-chat.service", 2.5),
        ("townhall-gate.service", 2.0),
    ] {
        let e = exposure(t, unit)?;
        eprintln!("systemd-analyze security: {unit} {e}");
        ensure!(
            e <= most,
            "systemd-analyze security rates {unit} {e}, over {most}"
        );
    }
    Ok(())
}

/// Send `line` on the hall as `user` ("townhall-chat" through runuser); the answer lines.
fn ask_as(t: &Town, user: &str, arg: &str) -> anyhow::Result<String> {
    let probe = format!("perl {PROBES}/hall.pl {arg}");
    if user == "townhall-chat" {
        return t.sh(&format!("runuser -u townhall-chat -- {probe}"));
    }
    let out = t.as_user(user, &probe);
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn the_hall_refuses_other_uids_and_bad_requests(t: &Town) -> anyhow::Result<()> {
    chat_running(t)?;
    for user in ["ada", "vox"] {
        let out = ask_as(t, user, &format!("'{}'", status()))?;
        ensure!(
            out.contains("only the townhall-chat user") && !out.contains("\"said\":\"status\""),
            "{user} was answered: {out}"
        );
    }
    let ok = ask_as(t, "townhall-chat", &format!("'{}'", status()))?;
    ensure!(
        ok.contains("\"said\":\"status\"") && ok.contains("\"resident\":\"ada\""),
        "the chat user was not answered: {ok}"
    );
    let quoted = |fields: &str| format!("'{}'", line(fields));
    // A version this townhall does not speak: the next one.
    let later = townhall_wire::hall::VERSION + 1;
    let wrong_version = format!("protocol version {later}");
    let bad = [
        ("'not json'".to_string(), "bad request"),
        (
            format!(r#"'{{"v":{later},"request":"status","resident":"ada"}}'"#),
            wrong_version.as_str(),
        ),
        (quoted(r#""request":"format_disk""#), "bad request"),
        ("--big 400000".to_string(), "over 262144 bytes"),
        (
            quoted(r#""request":"reset","by":"@eve:town.test""#),
            "not a mayor",
        ),
        (
            quoted(r#""request":"status","resident":"../root""#),
            "no resident",
        ),
        (
            quoted(r#""request":"stop","resident":"ada","sender":"@ada:town.test""#),
            "may not command",
        ),
    ];
    for (arg, want) in bad {
        let out = ask_as(t, "townhall-chat", &arg)?;
        ensure!(
            out.contains("\"said\":\"error\"") && out.contains(want),
            "{arg}: wanted an error with `{want}`, got {out:.300}"
        );
    }
    // The daemon carries on.
    t.sh("systemctl is-active townhall && townhall status >/dev/null")?;
    let again = ask_as(t, "townhall-chat", &format!("'{}'", status()))?;
    ensure!(
        again.contains("\"said\":\"status\""),
        "after the bad requests: {again}"
    );
    Ok(())
}

pub fn killing_the_chat_mid_turn_loses_no_answer(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    chat_running(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada (split)", &[ADA], true).await?;
        mayor.say(&room, "hello before").await?;
        mayor.wait_for(&room, ADA, "you said: hello before").await?;
        mayor.say(&room, "slow").await?;
        let running = || {
            t.sh("townhall status --json")
                .map(|s| s.contains(room.as_str()))
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !running()? {
            ensure!(
                std::time::Instant::now() < deadline,
                "the slow turn never started"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        t.sh("systemctl kill -s KILL townhall-chat")?;
        ensure!(
            running()?,
            "the turn ended before the chat was killed: nothing was proven"
        );
        let msgs = mayor
            .wait_for(&room, ADA, "waited while townhall restarted")
            .await?;
        ensure!(msgs.iter().any(|(b, _)| b.contains("line 3") && b.contains("waited while townhall restarted")), "{msgs:?}");
        // A message sent while the chat is down is answered once it is back.
        t.sh("systemctl stop townhall-chat")?;
        mayor.say(&room, "hello while away").await?;
        t.sh("systemctl start townhall-chat")?;
        mayor
            .wait_for(&room, ADA, "you said: hello while away")
            .await?;
        Ok(())
    })
}
