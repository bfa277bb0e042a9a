//! Command-line interface: noun-verb commands, `--json` wherever the output is data.

mod args;
mod attach;
mod audit;
mod bench;
mod bench_alone;
mod bench_chat;
mod bench_town;
mod hooks;
mod keys;
mod machine;
mod round;
mod show;
mod shown;
mod turn;
mod usage;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use args::{BenchCommand, Cli, Command, KeysCommand, ResidentCommand};

use townhall::config::Town;
use townhall::control::{self, ClientError, Request, Response};

/// Exit code for "the daemon is not running" (as systemctl uses 3 for "not active").
const EXIT_DAEMON_DOWN: u8 = 3;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // A command whose reader went away (`townhall status | head`) ends quietly, as Unix
    // tools do. The daemons keep Rust's default: a closed socket is an error, not death.
    if !matches!(cli.command, Command::Serve | Command::Chat) {
        // SAFETY: at start, before any thread: restoring a signal's default disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check { json, host: true } => {
            let findings = townhall::level::check_host(&townhall::level::ThisHost);
            if json {
                print_json(&findings)
            } else {
                print!("{}", show::host_findings(&findings))
            }
            Ok(if findings.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Check { json, host: false } => Ok(check(&cli.config, json)),
        Command::Losses { resident } => {
            let town = load(&cli.config)?;
            let r = town
                .resident(&resident)
                .with_context(|| format!("no resident named `{resident}`"))?;
            if nix::unistd::geteuid().is_root() {
                townhall::round::become_resident(r.uid).context("becoming the resident")?;
            }
            print_json(&townhall::round::examine(
                r,
                std::path::Path::new(townhall::round::BOUND_HOME),
                &town.home(r),
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Holders { path, kill } => {
            for pid in townhall::grant::my_holders(&path)? {
                if kill {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::SIGKILL,
                    );
                }
                println!("{pid}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::ApproveHook { gemini } => {
            townhall::approve::hook::run(
                &mut std::io::stdin().lock(),
                &mut std::io::stdout().lock(),
                gemini,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Mcp => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(townhall::tools::mcp::run())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            init_logging();
            townhall::os::raise_nofile();
            let town = load(&cli.config)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let managers = townhall::units::SystemdUserManagers::connect().await?;
                let acls = townhall::grant::PosixAcls;
                let machine = machine::real(&town);
                townhall::serve::Daemon::new(town, machine, managers, acls)?
                    .run()
                    .await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Chat => chat(&cli.config),
        Command::Status { json } => status(json),
        Command::Devices { json } => ask(&Request::Devices, |r| match r {
            Response::Devices { devices } if json => print_json(&devices),
            Response::Devices { devices } => print!("{}", show::devices(&devices)),
            _ => {}
        }),
        Command::Fire { resident, id } => ask(&Request::Fire { resident, id }, |_| {}),
        Command::Reload => ask(&Request::Reload, |r| {
            if let Response::Reloaded { residents } = r {
                println!("reloaded: {residents} resident(s)");
            }
        }),
        Command::Turn {
            args,
            conversation,
            new,
            json,
        } => turn::run(&args, &conversation, new, json),
        Command::Attach { name, conversation } => {
            attach::run(&load(&cli.config)?, &name, conversation.as_deref())
        }
        Command::Init { json } => {
            init_logging();
            round::init(&load(&cli.config)?, json)
        }
        Command::Keys { command, json } => {
            let town = load(&cli.config)?;
            match command {
                Some(KeysCommand::Rotate { name }) => keys::rotate(&town, &name),
                None => keys::show(&town, json),
            }
        }
        Command::Push { path } => Ok(ExitCode::from(
            townhall::remote::push_client(&path)
                .context("pushing through townhall (is the daemon running?)")? as u8,
        )),
        Command::Hook { .. } => hooks::pre_receive(&cli.config),
        Command::Audit {
            resident,
            since,
            kinds,
            last,
            json,
        } => {
            let asked = audit::Asked {
                resident,
                since,
                kinds,
                last,
                json,
            };
            audit::run(&load(&cli.config)?, asked)
        }
        Command::Usage {
            resident,
            days,
            svg,
            json,
        } => {
            let asked = usage::Asked {
                resident,
                days,
                svg,
                json,
            };
            usage::run(&load(&cli.config)?, asked)
        }
        Command::Level { json } => {
            init_logging();
            round::level(&load(&cli.config)?, json)
        }
        Command::Reset {
            residents,
            dry_run,
            json,
            by,
            yes,
        } => {
            init_logging();
            round::reset(&load(&cli.config)?, &residents, dry_run, json, by, yes)
        }
        Command::Checkpoint { resident, label } => {
            round::checkpoint(&load(&cli.config)?, &resident, &label.join(" "))
        }
        Command::Checkpoints { resident, json } => {
            round::checkpoints(&load(&cli.config)?, &resident, json)
        }
        Command::Rollback {
            resident,
            n,
            by,
            yes,
        } => {
            init_logging();
            round::rollback(&load(&cli.config)?, &resident, n, by, yes)
        }
        Command::Bench {
            command: BenchCommand::Grant { node, uid, count },
        } => round::bench_grant(&node, uid, count),
        Command::Bench {
            command:
                BenchCommand::Chat {
                    mayor,
                    other,
                    resident,
                    runs,
                    json,
                },
        } => bench_chat::run(&mayor, &other, &resident, runs, json),
        Command::Bench {
            command:
                BenchCommand::ResetTown {
                    resident,
                    files,
                    runs,
                    json,
                },
        } => {
            let town = load(&cli.config)?;
            let rows = bench_town::run(&town, &resident, &files, runs, &mut |m| {
                eprintln!("bench: {m}")
            })?;
            if json {
                print_json(&rows);
            } else {
                let median = bench_town::median;
                println!(
                    "medians of {runs} run(s), ms; `townhall reset --yes` with the daemon running"
                );
                println!(
                    "{:>10} {:>14} {:>10} {:>15} {:>28}",
                    "files", "end to end", "reset", "critical path", "walk it no longer waits for"
                );
                for r in rows {
                    println!(
                        "{:>10} {:>14.1} {:>10.1} {:>15.1} {:>28.1}",
                        r.files,
                        median(&r.end_to_end_ms),
                        median(&r.reset_ms),
                        median(&r.critical_ms),
                        median(&r.walk_ms)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command:
                BenchCommand::ResetAlone {
                    resident,
                    streamer,
                    files,
                    runs,
                    json,
                },
        } => {
            let town = load(&cli.config)?;
            let rows = bench_alone::run(&town, &resident, &streamer, &files, runs, &mut |m| {
                eprintln!("bench: {m}")
            })?;
            if json {
                print_json(&rows);
                return Ok(ExitCode::SUCCESS);
            }
            let median = bench_town::median;
            println!(
                "medians of {runs} run(s), ms; {resident} reset alone while {streamer}'s turn streams a line every 10 ms"
            );
            println!(
                "{:>10} {:>15} {:>10} {:>20} {:>20} {:>22}",
                "files",
                "critical path",
                "reset",
                "stream's longest",
                "before, longest",
                "town reset's critical"
            );
            for r in rows {
                println!(
                    "{:>10} {:>15.1} {:>10.1} {:>20.1} {:>20.1} {:>22.1}",
                    r.files,
                    median(&r.critical_ms),
                    median(&r.reset_ms),
                    median(&r.stall_ms),
                    median(&r.calm_ms),
                    median(&r.town_critical_ms)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command:
                BenchCommand::Reset {
                    dir,
                    residents,
                    files,
                    cold,
                    json,
                },
        } => round::bench(&dir, residents, &files, cold, json),
        Command::Resident { command } => {
            let town = load(&cli.config)?;
            match command {
                ResidentCommand::List { json } if json => print_json(&town.residents),
                ResidentCommand::List { .. } => print!("{}", show::resident_table(&town)),
                ResidentCommand::Show { name, json } => {
                    let r = town.resident(&name).with_context(|| {
                        let known: Vec<_> =
                            town.residents.iter().map(|r| r.name.as_str()).collect();
                        format!(
                            "no resident named `{name}` (residents: {})",
                            known.join(", ")
                        )
                    })?;
                    if json {
                        print_json(r)
                    } else {
                        print!("{}", show::resident(&town, r))
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) fn load(dir: &std::path::Path) -> anyhow::Result<Town> {
    townhall::schedule::calendar::load(dir).map_err(|d| {
        anyhow::anyhow!(
            "{d}\n{} problem(s) in the config at {}: nothing was changed",
            d.0.len(),
            dir.display()
        )
    })
}

fn check(dir: &std::path::Path, json: bool) -> ExitCode {
    match townhall::schedule::calendar::load(dir) {
        Ok(town) => {
            if json {
                print_json(&town)
            } else {
                print!("{}", show::town(&town))
            }
            ExitCode::SUCCESS
        }
        Err(d) => {
            if json {
                print_json(&serde_json::json!({ "errors": d.0 }));
            } else {
                eprintln!("{d}");
                eprintln!(
                    "{} problem(s) in the config at {}",
                    d.0.len(),
                    dir.display()
                );
            }
            ExitCode::FAILURE
        }
    }
}

/// One request to the daemon; a daemon that is down is exit code 3 with how to start it.
pub(crate) fn ask(req: &Request, each: impl FnMut(Response)) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match rt.block_on(control::stream(Town::control_socket(), req, each)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e @ ClientError::DaemonDown { .. }) => {
            eprintln!("{e}");
            Ok(ExitCode::from(EXIT_DAEMON_DOWN))
        }
        Err(e) => Err(e.into()),
    }
}

/// One request to the daemon that waits at most `secs`: None when it did not answer in time
/// (or no runtime could be made).
pub(crate) fn call_daemon(req: &Request, secs: u64) -> Option<Result<Response, ClientError>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        tokio::time::timeout(
            std::time::Duration::from_secs(secs),
            control::call(Town::control_socket(), req),
        )
        .await
    })
    .ok()
}

fn status(json: bool) -> anyhow::Result<ExitCode> {
    ask(&Request::Status, |r| match r {
        Response::Status(s) if json => print_json(&s),
        Response::Status(s) => print!("{}", show::status(&s)),
        other => eprintln!("unexpected answer from the daemon: {other:?}"),
    })
}

pub(crate) fn print_json<T: serde::Serialize + ?Sized>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("config and status serialise")
    );
}

/// journald when started by systemd (it sets JOURNAL_STREAM), the terminal otherwise.
/// `townhall chat` is the chat's own binary, which links none of root's code (and refuses
/// to run as root): this only finds it.
fn chat(config: &std::path::Path) -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?.with_file_name("townhall-chat");
    let e = std::process::Command::new(&exe)
        .arg("--config")
        .arg(config)
        .exec();
    anyhow::bail!(
        "cannot run {}: {e}\n  help: install townhall-chat beside townhall (cargo build builds both)",
        exe.display()
    )
}

fn init_logging() {
    townhall::os::logging::init("townhall");
}
