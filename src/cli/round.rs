//! `townhall init`, `townhall reset` and `townhall bench reset`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use nix::fcntl::{Flock, FlockArg};

use townhall::config::Town;
use townhall::control::{self, ClientError, Request, Response};
use townhall::git::Git2;
use townhall::resident::SystemAccounts;
use townhall::round::{self, Btrfs, HostFiles, Seams};

fn seams() -> Seams<'static, Btrfs, HostFiles, SystemAccounts, Git2> {
    round::host_seams()
}

/// Print refusals and say plainly that nothing changed.
fn refused<E: std::fmt::Display>(what: &str, refusals: &[E]) -> ExitCode {
    for r in refusals {
        eprintln!("error: {r}");
    }
    eprintln!("{what} refused: nothing was changed");
    ExitCode::FAILURE
}

pub fn init(town: &Town, json: bool) -> anyhow::Result<ExitCode> {
    match round::init(town, &seams()) {
        Ok(done) if json => super::print_json(&serde_json::json!({ "done": done })),
        Ok(done) if done.is_empty() => println!("the town is already prepared: nothing to do"),
        Ok(done) => done.iter().for_each(|d| println!("{d}")),
        Err(r) => return Ok(refused("init", &r)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Hold the state dir's lock so two resets never interleave.
fn lock(town: &Town) -> anyhow::Result<Flock<std::fs::File>> {
    let path = town.state.join("reset.lock");
    std::fs::create_dir_all(&town.state).with_context(|| format!("creating {}", town.state.display()))?;
    let file = std::fs::File::create(&path).with_context(|| format!("opening {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| anyhow::anyhow!("another reset is running ({}: {e})", path.display()))
}

/// Through the daemon when it runs; when it does not, no turn can be running.
fn stop_turns() -> anyhow::Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match rt.block_on(control::call(Town::control_socket(), &Request::StopTurns)) {
        Ok(Response::Stopped { turns }) => Ok(format!("stopped {turns} running turn(s)")),
        Ok(other) => anyhow::bail!("unexpected answer from the daemon: {other:?}"),
        Err(ClientError::DaemonDown { .. }) => Ok("the daemon is not running: no turn runs".into()),
        Err(e) => Err(e).context("could not stop the running turns, so the reset did not start"),
    }
}

fn who(by: Option<String>) -> String {
    by.or_else(|| std::env::var("SUDO_USER").ok())
        .or_else(|| nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.name))
        .unwrap_or_else(|| format!("uid {}", nix::unistd::getuid()))
}

pub fn reset(town: &Town, dry_run: bool, json: bool, by: Option<String>) -> anyhow::Result<ExitCode> {
    let s = seams();
    let plan = match round::plan_reset(town, s.subvolumes, s.files, s.accounts) {
        Ok(p) => p,
        Err(r) => return Ok(refused("reset", &r)),
    };
    if dry_run {
        if json {
            super::print_json(&plan);
        } else {
            print!("{}", super::show::reset_plan(&plan));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let _lock = lock(town)?;
    let say = |m: &str| if !json { eprintln!("reset: {m}") };
    say(&stop_turns()?);
    let report = round::run_reset(&plan, &s, &town.state, &who(by), &mut |m| say(m))?;
    if json {
        super::print_json(&report);
    } else {
        println!("round {} begins (reset by {} in {} ms)", report.round, report.by, report.duration_ms);
        for (name, kept) in &report.survived {
            let kept: Vec<_> = kept.iter().map(|p| p.display().to_string()).collect();
            println!("  {name}: kept {}", if kept.is_empty() { "nothing".into() } else { kept.join(", ") });
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn bench(dir: &Path, residents: usize, files: &[usize], cold: bool, json: bool) -> anyhow::Result<ExitCode> {
    let rows = super::bench::reset(dir, residents, files, cold, &mut |m| eprintln!("bench: {m}"))?;
    if json {
        super::print_json(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    println!("caches: {}", if cold { "dropped before each run (as after a reboot)" } else { "warm (as a reset on command)" });
    println!("{:>9} {:>11} {:>14} {:>14} {:>12}", "residents", "files/home", "townhall ms", "btrfs CLI ms", "rm -rf ms");
    for r in rows {
        println!(
            "{:>9} {:>11} {:>14.1} {:>14.1} {:>12.1}",
            r.residents, r.files_per_home, r.townhall_ms, r.btrfs_cli_ms, r.rm_rf_ms
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
    println!("uevent → ACL entry on {} ({count} runs each), ms", node.display());
    println!("{:<28} {:>8} {:>8} {:>8}", "", "median", "p90", "max");
    for (name, v) in [("townhall (libudev monitor)", &ours), ("udev RUN+=\"setfacl\"", &theirs)] {
        let (m, p90, max) = stats(v);
        println!("{name:<28} {m:>8.2} {p90:>8.2} {max:>8.2}");
    }
    Ok(ExitCode::SUCCESS)
}
