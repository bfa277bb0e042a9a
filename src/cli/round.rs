//! `townhall init`, `townhall reset` and `townhall bench reset`.

use std::path::Path;
use std::process::ExitCode;

use std::io::Write;

use townhall::config::Town;
use townhall::control::{ClientError, Request, Response};
use townhall::machine::Machine;
use townhall::reset::{ResetError, Witness};
use townhall::round;

/// Print refusals and say plainly that nothing changed.
fn refused<E: std::fmt::Display>(what: &str, refusals: &[E]) -> ExitCode {
    for r in refusals {
        eprintln!("error: {r}");
    }
    eprintln!("{what} refused: nothing was changed");
    ExitCode::FAILURE
}

pub fn init(town: &Town, json: bool) -> anyhow::Result<ExitCode> {
    let machine = super::machine::real(town);
    match round::init(town, &machine.round()) {
        Ok(done) if json => super::print_json(&serde_json::json!({ "done": done })),
        Ok(done) if done.is_empty() => println!("the town is already prepared: nothing to do"),
        Ok(done) => done.iter().for_each(|d| println!("{d}")),
        Err(r) => return Ok(refused("init", &r)),
    }
    for d in townhall::remote::TownRemote::prepare(machine.remote(), town)? {
        println!("{d}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Through the daemon when it runs; when it does not, no turn can be running. A daemon
/// that does not answer in time does not hold the reset up: levelling ends every turn.
fn stop_turns(only: &[String]) -> String {
    if !only.is_empty() {
        let stopped: Vec<String> = only
            .iter()
            .map(|name| {
                let ask = Request::Stop {
                    resident: name.clone(),
                };
                match super::call_daemon(&ask, 30) {
                    Some(Ok(Response::Stopped { turns })) => {
                        format!("stopped {turns} running turn(s) of {name}")
                    }
                    _ => format!("{name}: levelling ends its turns"),
                }
            })
            .collect();
        return stopped.join("; ");
    }
    match super::call_daemon(&Request::StopTurns, 30) {
        Some(Ok(Response::Stopped { turns })) => format!("stopped {turns} running turn(s)"),
        Some(Ok(other)) => {
            format!("unexpected answer from the daemon ({other:?}): levelling ends the turns")
        }
        Some(Err(ClientError::DaemonDown { .. })) => {
            "the daemon is not running: no turn runs".into()
        }
        Some(Err(e)) => {
            format!("could not ask the daemon to stop the turns ({e}): levelling ends them")
        }
        None => "the daemon did not answer within 30 s: levelling ends the turns".into(),
    }
}

fn who(by: Option<String>) -> String {
    by.or_else(|| std::env::var("SUDO_USER").ok())
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.name)
        })
        .unwrap_or_else(|| format!("uid {}", nix::unistd::getuid()))
}

/// Progress and results go to a terminal that may close under us (`| head`, a dropped SSH
/// session): a failed write is ignored, never a reason to stop half-way.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "reset: {line}");
}

fn out(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// A reset at a terminal: progress on stderr (not with --json), warnings always.
struct Terminal {
    quiet: bool,
}

impl Witness for Terminal {
    fn progress(&mut self, line: &str) {
        if !self.quiet {
            say(line)
        }
    }
    fn warning(&mut self, line: &str) {
        let _ = writeln!(std::io::stderr(), "warning: {line}");
    }
    fn before_levelling(&mut self, only: &[String]) {
        self.progress(&stop_turns(only));
    }
}

/// Ask at a terminal; anything but a terminal answering y is no.
fn confirmed(only: &[String]) -> anyhow::Result<bool> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    if only.is_empty() {
        eprint!("End the round for every resident? [y/N] ");
    } else {
        eprint!("End the round of {} alone? [y/N] ", only.join(", "));
    }
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub fn reset(
    town: &Town,
    only: &[String],
    dry_run: bool,
    json: bool,
    by: Option<String>,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    let machine = super::machine::real(town);
    let s = machine.round();
    // What would be lost, before anything is done, for whoever is asked; a reset that is
    // confirmed already (--yes, the boot's) does not wait for it: what the round lost is
    // read from the retired round afterwards, by the daemon (or below, when none runs).
    if !json && !yes {
        say_losses(town, only, &|r| round::losses(town, r));
    }
    if !dry_run && !yes && !confirmed(only)? {
        eprintln!(
            "error: the reset was not confirmed; nothing was changed\n  help: answer y at a terminal, or pass --yes"
        );
        return Ok(ExitCode::from(1));
    }
    if dry_run {
        let plan = match townhall::reset::plan(town, only, &machine) {
            Ok(p) => p,
            Err(ResetError::Refused(r)) => return Ok(refused("reset", &r)),
            Err(e) => return Err(e.into()),
        };
        if json {
            super::print_json(&plan);
        } else {
            print!("{}", super::show::reset_plan(&plan));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // A closed terminal must not kill a reset half-way (it would be finished later, but
    // the round should begin now).
    // SAFETY: setting a signal's disposition to ignore is always sound.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
    let mut terminal = Terminal { quiet: json };
    let report = match townhall::reset::end_round(town, only, &machine, &who(by), &mut terminal) {
        Ok(r) => r,
        Err(ResetError::Refused(r)) => return Ok(refused("reset", &r)),
        Err(e) => return Err(e.into()),
    };
    if json {
        out(&serde_json::to_string_pretty(&report).expect("reports serialise"));
    } else {
        if only.is_empty() {
            out(&format!(
                "round {} begins (reset by {} in {} ms)",
                report.round, report.by, report.duration_ms
            ));
        }
        for (name, round) in &report.rounds {
            out(&format!(
                "{name}'s round {round} begins, alone (reset by {} in {} ms)",
                report.by, report.duration_ms
            ));
        }
        for (name, kept) in &report.survived {
            let kept: Vec<_> = kept.iter().map(|p| p.display().to_string()).collect();
            let l = &report.levelled[name];
            out(&format!(
                "  {name}: kept {}; ended {} process(es), removed {} file(s) and {} IPC object(s)",
                if kept.is_empty() {
                    "nothing".into()
                } else {
                    kept.join(", ")
                },
                l.processes,
                l.files_removed,
                l.ipc_removed
            ));
        }
    }
    for w in report.warnings() {
        let _ = writeln!(std::io::stderr(), "warning: {w}");
    }
    // At boot the supervisor starts next, tells the rooms what was lost and deletes the old
    // round; elsewhere, with no daemon, we do (the new round is in place already, so this
    // only keeps the terminal a little longer).
    if tell_daemon() {
        if !json {
            out(
                "  what the round lost goes to each resident's rooms once the daemon has read the old round",
            );
        }
    } else if report.by != "boot" {
        let retired = round::retired(town, s.subvolumes)?;
        if only.is_empty() {
            if let Some(old) = retired.last() {
                say_losses(town, only, &|r| {
                    round::losses_in(town, r, &old.join(&r.name))
                });
            }
        } else {
            for old in &retired {
                if let Some(round::Retired::Home { name, round }) =
                    round::retired_kind(&town.live_path(), old)
                    && round > 0
                {
                    say_losses(town, std::slice::from_ref(&name), &|r| {
                        round::losses_in(town, r, &old.join(&r.name))
                    });
                }
            }
        }
        let mut terminal = Terminal { quiet: json };
        let progress = &mut |m: &str| terminal.progress(m);
        for (old, r) in round::delete_retired(town, s.subvolumes, &|_| false, progress)? {
            match r {
                Ok(took) => progress(&format!(
                    "deleted {} in {} ms",
                    old.display(),
                    took.as_millis()
                )),
                Err(e) => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "warning: {e}\n  help: the next reset, or the daemon when it starts, tries again"
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn checkpoint(town: &Town, resident: &str, label: &str) -> anyhow::Result<ExitCode> {
    let machine = super::machine::real(town);
    let taken = round::checkpoint::take(town, machine.round().subvolumes, resident, label)?;
    out(&format!(
        "checkpoint {} of {resident}'s home taken (`townhall rollback {resident} {}` goes back to it)",
        taken.n, taken.n
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn checkpoints(town: &Town, resident: &str, json: bool) -> anyhow::Result<ExitCode> {
    let list = round::checkpoint::list(town, resident);
    if json {
        super::print_json(&list);
    } else if list.is_empty() {
        out(&format!("{resident} has no checkpoints this round"));
    }
    for c in list.iter().filter(|_| !json) {
        out(&format!(
            "{:>4}  {}  {}{:.1} MiB, {} entries  {}",
            c.n,
            c.taken,
            if c.whole { "" } else { "≥" },
            c.bytes as f64 / (1 << 20) as f64,
            c.entries,
            super::shown::shown(&c.label)
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn rollback(
    town: &Town,
    resident: &str,
    n: u64,
    by: Option<String>,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let asked = || -> anyhow::Result<bool> {
        if !std::io::stdin().is_terminal() {
            return Ok(false);
        }
        eprint!(
            "Roll {resident}'s home back to checkpoint {n}? Its files since are lost; /persist/{resident} stays as it is. [y/N] "
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
    };
    if !yes && !asked()? {
        eprintln!(
            "error: the rollback was not confirmed; nothing was changed\n  help: answer y at a terminal, or pass --yes"
        );
        return Ok(ExitCode::from(1));
    }
    // SAFETY: setting a signal's disposition to ignore is always sound.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
    let machine = super::machine::real(town);
    let mut terminal = Terminal { quiet: false };
    match townhall::reset::rollback(town, resident, n, &machine, &who(by), &mut terminal) {
        Ok(r) => out(&format!(
            "{resident}'s home is back at checkpoint {n} (in {} ms)",
            r.duration_ms
        )),
        Err(ResetError::Refused(r)) => return Ok(refused("rollback", &r)),
        Err(e) => return Err(e.into()),
    }
    tell_daemon();
    Ok(ExitCode::SUCCESS)
}

/// Each resident's losses (those `only` names, when it names any), one block each, on
/// stderr.
fn say_losses(
    town: &Town,
    only: &[String],
    of: &dyn Fn(&townhall::config::Resident) -> round::Losses,
) {
    let chosen = town
        .residents
        .iter()
        .filter(|r| only.is_empty() || only.contains(&r.name));
    for l in chosen.map(of) {
        let lines = l.lines();
        // File names and commit subjects are the resident's: shown, never sent raw.
        let said = if lines.is_empty() {
            "nothing uncommitted, unpushed or unpersisted".to_string()
        } else {
            lines.join("\n    ")
        };
        let _ = writeln!(
            std::io::stderr(),
            "{}: {}",
            l.resident,
            super::shown::shown(&said)
        );
    }
}

/// Let a running daemon tell the residents' rooms what this reset reported and delete the
/// old round; false when none answered (a daemon that starts later does both).
fn tell_daemon() -> bool {
    matches!(super::call_daemon(&Request::RoundBegan, 10), Some(Ok(_)))
}

pub fn level(town: &Town, json: bool) -> anyhow::Result<ExitCode> {
    // SAFETY: setting a signal's disposition to ignore is always sound.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
    let mut reports = std::collections::BTreeMap::new();
    let shared = townhall::level::shared_dirs(town);
    let machine = super::machine::real(town);
    for r in &town.residents {
        reports.insert(
            r.name.clone(),
            townhall::level::level(machine.round().presence, r.uid, &shared),
        );
    }
    townhall::audit::append(&town.state, "level", &reports)?;
    if json {
        out(&serde_json::to_string_pretty(&reports).expect("reports serialise"));
    } else {
        for (name, l) in &reports {
            out(&format!(
                "{name}: ended {} process(es), removed {} file(s) and {} IPC object(s)",
                l.processes, l.files_removed, l.ipc_removed
            ));
            for s in &l.survivors {
                out(&format!(
                    "  warning: process {} ({}) outlived SIGKILL: {}",
                    s.pid, s.command, s.state
                ));
            }
            for p in &l.problems {
                out(&format!("  warning: {p}"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn bench(
    dir: &Path,
    residents: usize,
    files: &[usize],
    cold: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let rows = super::bench::reset(dir, residents, files, cold, &mut |m| {
        eprintln!("bench: {m}")
    })?;
    if json {
        super::print_json(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "caches: {}",
        if cold {
            "dropped before each run (as after a reboot)"
        } else {
            "warm (as a reset on command)"
        }
    );
    println!(
        "townhall's critical path: snapshot the blank beside the live round, exchange, rename the old round aside"
    );
    println!("its background deletion: the retired round, after the new one is in place");
    println!(
        "{:>9} {:>11} {:>15} {:>17} {:>14} {:>12}",
        "residents", "files/home", "critical ms", "background ms", "btrfs CLI ms", "rm -rf ms"
    );
    for r in rows {
        println!(
            "{:>9} {:>11} {:>15.1} {:>17.1} {:>14.1} {:>12.1}",
            r.residents,
            r.files_per_home,
            r.critical_ms,
            r.background_ms,
            r.btrfs_cli_ms,
            r.rm_rf_ms
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn bench_grant(node: &Path, uid: u32, count: usize) -> anyhow::Result<ExitCode> {
    let (ours, theirs) = super::bench::grant(node, uid, count, &mut |m| eprintln!("bench: {m}"))?;
    let stats = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        (s[s.len() / 2], s[s.len() * 9 / 10], s[s.len() - 1])
    };
    println!(
        "uevent → ACL entry on {} ({count} runs each), ms",
        node.display()
    );
    println!("{:<28} {:>8} {:>8} {:>8}", "", "median", "p90", "max");
    for (name, v) in [
        ("townhall (libudev monitor)", &ours),
        ("udev RUN+=\"setfacl\"", &theirs),
    ] {
        let (m, p90, max) = stats(v);
        println!("{name:<28} {m:>8.2} {p90:>8.2} {max:>8.2}");
    }
    Ok(ExitCode::SUCCESS)
}
