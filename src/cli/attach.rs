//! `townhall attach NAME [--conversation ID]`: the mayor picks up, at a terminal, the CLI
//! session a chat conversation runs in. It runs as the resident, in its workspace (the
//! conversation's own worktree when it has one), as a transient unit of the resident's own
//! user manager (so under the same PID 1 limits as its turns), with the kind's defaults and
//! the resident's environment, then leaves a login shell there. What is said at the
//! terminal is in the session the next chat turn resumes.

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};

use anyhow::Context;
use townhall::config::Town;
use townhall::turn::{Sessions, drivers};

pub fn run(town: &Town, name: &str, conversation: Option<&str>) -> anyhow::Result<ExitCode> {
    let r = town.resident(name).with_context(|| {
        format!("no resident named `{name}`\n  help: `townhall resident list` shows them")
    })?;
    let sessions = Sessions::load(&town.state)?;
    let found = match conversation {
        Some(c) => sessions.get(name, c).map(|s| (c.to_string(), s)),
        None => sessions.latest(name),
    };
    // Another kind's id would not resume (the resident's kind changed since).
    let found = found.filter(|(_, s)| s.kind.is_none_or(|k| k == r.agent.kind));
    let home = town.home(r);
    // Where the conversation's turns run this round: its own worktree, if it has one.
    let round = townhall::round::RoundState::new(&town.state).round_of(name)?;
    let place = found.as_ref().and_then(|(c, _)| {
        let kept = townhall::worktree::Kept::load(&town.state).ok()?;
        kept.get(name, c, round).flatten()
    });
    let workspace = match place {
        Some(slug) => home.join(townhall::worktree::DIR).join(slug),
        None => home.join(&r.agent.workspace),
    };
    let inv = drivers::interactive(&r.agent, found.as_ref().map(|(_, s)| s.id.as_str()), &home);
    match &found {
        Some((c, s)) => eprintln!(
            "{name}'s {:?} session {} (conversation {c}), in {}",
            r.agent.kind,
            s.id,
            workspace.display()
        ),
        None => eprintln!(
            "{name} has no {:?} session{}: starting a fresh one in {}",
            r.agent.kind,
            conversation.map(|c| format!(" in {c}")).unwrap_or_default(),
            workspace.display()
        ),
    }
    eprintln!("(leave the CLI for a shell as {name}; leave that to come back)");
    // Its manager must be up: the same linger a turn asks for.
    let _ = Command::new("loginctl")
        .args(["enable-linger", name])
        .status();
    let mut env: BTreeMap<String, String> = inv.environment.into_iter().collect();
    env.extend(r.agent.environment.clone());
    env.insert(
        "SSH_AUTH_SOCK".into(),
        townhall::sign::agent_socket(name).display().to_string(),
    );
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    // The resident's manager takes transient units from the resident (its session bus
    // admits no one else), so systemd-run runs as the resident, but under `runuser --pty`:
    // runuser, as root, gives it a terminal of its own and copies to this one, so no
    // process of the resident ever holds this terminal (no TIOCSTI into root's shell).
    // The resident's environment goes through runuser's environment and `--setenv=NAME`,
    // never on a command line, which anyone may read in /proc.
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into());
    let mut cmd = Command::new("runuser");
    cmd.env_clear()
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", format!("/run/user/{}", r.uid))
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path=/run/user/{}/bus", r.uid),
        )
        .env("TERM", &term)
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    cmd.args([
        "--preserve-environment",
        "--pty",
        "-u",
        name,
        "--",
        "systemd-run",
        "--quiet",
        "--user",
        "--pty",
        "--collect",
        "--service-type=exec",
    ])
    .arg("--setenv=TERM")
    .arg(format!("--unit=townhall-attach-{name}-{stamp}"))
    .arg(format!(
        "--description=townhall attach ({:?})",
        r.agent.kind
    ))
    .arg(format!("--working-directory={}", workspace.display()));
    for f in &r.agent.environment_files {
        cmd.arg(format!("--property=EnvironmentFile={}", f.display()));
    }
    for (k, v) in &env {
        cmd.env(k, v).arg(format!("--setenv={k}"));
    }
    // The CLI, then a login shell in the same place.
    cmd.args([
        "--",
        "/bin/bash",
        "-c",
        "\"$@\"; cd \"$PWD\" && exec /bin/bash -l",
        "townhall-attach",
    ])
    .args(&inv.argv);
    let status = cmd
        .status()
        .context("running runuser and systemd-run (util-linux and systemd)")?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(status.code().unwrap_or(1).clamp(1, 255) as u8)
    })
}
