//! Command-line interface: noun-verb commands, `--json` wherever the output is data.

mod attach;
mod bench;
mod bench_chat;
mod bench_town;
mod hooks;
mod keys;
mod round;
mod show;
mod shown;
mod turn;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use townhall::config::{self, Town};
use townhall::control::{self, ClientError, Request, Response};

#[derive(Parser)]
#[command(
    name = "townhall",
    version,
    about = "AI agents as real Unix users, reset between rounds"
)]
struct Cli {
    /// Directory holding town.toml and residents/.
    #[arg(long, global = true, env = "TOWNHALL_CONFIG", default_value = config::DEFAULT_CONFIG_DIR)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the supervisor (normally as the townhall systemd service, as root).
    Serve,
    /// Run every resident's Matrix bot: the `townhall-chat` binary beside this one
    /// (normally townhall-chat.service, as its own unprivileged user).
    Chat,
    /// Validate the configuration and print the resolved town; `--host` checks the host's
    /// settings instead (sysctls, /proc, cgroups).
    Check {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        host: bool,
    },
    /// Ask the running daemon how the town is doing.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Devices that match a rule, who holds them and since when.
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// claude's PreToolUse hook in a resident's turn: asks the supervisor whether a tool
    /// call a rule names may run (townhall passes it to claude itself).
    #[command(hide = true)]
    ApproveHook {
        /// Answer in gemini's hook output, not claude's.
        #[arg(long)]
        gemini: bool,
    },
    /// Run by root in a unit of its own with a resident's home bound at /run/townhall-losses:
    /// becomes the resident and prints what a reset loses of that home (JSON).
    #[command(hide = true)]
    Losses {
        #[arg(long)]
        resident: String,
    },
    /// Run by the daemon as a resident whose device grant ended: the pids of the resident's
    /// processes holding PATH open, and with --kill, ends them.
    #[command(hide = true)]
    Holders {
        path: PathBuf,
        #[arg(long)]
        kill: bool,
    },
    /// Make the daemon read the configuration again (same as `systemctl reload townhall`).
    Reload,
    /// Run a turn: `turn NAME PROMPT…` streams the answer; `turn stop NAME` ends it.
    Turn {
        #[arg(required = true, num_args = 1.., value_name = "NAME PROMPT… | stop NAME")]
        args: Vec<String>,
        /// The conversation (each has its own queue and CLI session).
        #[arg(long, default_value = "cli")]
        conversation: String,
        /// Start a fresh CLI session instead of continuing the conversation's.
        #[arg(long)]
        new: bool,
        /// Print each event as a JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Continue a conversation's CLI session at this terminal, as the resident in its
    /// workspace and user manager (then a shell there); the chat goes on from it after.
    Attach {
        name: String,
        /// The chat conversation (its room ID, as `!session` shows); default: the latest.
        #[arg(long)]
        conversation: Option<String>,
    },
    /// Prepare a fresh host: blank and live subvolumes, accounts, /persist, the state dir.
    Init {
        #[arg(long)]
        json: bool,
    },
    /// End the round: level the agents subvolume to the blank and rebuild every home.
    Reset {
        /// Print what would be done, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
        /// Who asked, for the audit log (default: the invoking user).
        #[arg(long)]
        by: Option<String>,
        /// End the round without asking (it still prints what is lost). Without it, a
        /// terminal is asked, and anything else is refused.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// End every resident's presence now — sessions, user managers, processes, IPC, keyrings,
    /// files in the shared dirs — and leave the homes alone (a reset's first step; also run
    /// at shutdown, so no resident's process can hold a reboot up).
    Level {
        #[arg(long)]
        json: bool,
    },
    /// Each resident's commit signing key and the town's allowed_signers (`rotate NAME`
    /// makes a new key; commits signed with the old one still verify).
    Keys {
        #[command(subcommand)]
        command: Option<KeysCommand>,
        #[arg(long)]
        json: bool,
    },
    /// git's receive-pack for the town remote (`remote.town.receivepack`): hands this push
    /// to the daemon, which knows the pusher by its uid.
    Push {
        /// The repository path git passes (its name picks the repository).
        path: PathBuf,
    },
    /// Hooks the town remote's repositories run (`hook pre-receive`).
    Hook {
        #[arg(value_parser = ["pre-receive"])]
        name: String,
    },
    /// Measure townhall against the alternatives.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Residents as declared in the configuration.
    Resident {
        #[command(subcommand)]
        command: ResidentCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// A new signing key for NAME, in use at once; the old one stays in allowed_signers with
    /// `valid-before` set to now.
    Rotate { name: String },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time from a udev event to the ACL entry: townhall vs a udev RUN+="setfacl" rule.
    Grant {
        /// A device node whose uevents may be triggered (e.g. /dev/ttyS0).
        #[arg(long)]
        node: PathBuf,
        #[arg(long, default_value_t = 65000)]
        uid: u32,
        #[arg(long, default_value_t = 50)]
        count: usize,
    },
    /// In a running town: the mayor's message → the CLI started → its first line back, beside
    /// Synapse's own client-to-client delivery (tests/town/bench-chat.sh sets it up).
    Chat {
        /// JSON with homeserver, user, password: the mayor.
        #[arg(long)]
        mayor: PathBuf,
        /// The same for another user, for Synapse's own delivery time.
        #[arg(long)]
        other: PathBuf,
        /// The resident to talk to (its CLI must answer `stamp N`, as the test stand-in does).
        #[arg(long, default_value = "@ada:town.test")]
        resident: String,
        #[arg(long, default_value_t = 30)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
    /// In a running town (it ends rounds): `townhall reset --yes` end to end as one
    /// resident's home grows, beside the walk of the home it no longer waits for.
    ResetTown {
        #[arg(long, default_value = "ada")]
        resident: String,
        /// Files in the home, one set of runs each.
        #[arg(long, value_delimiter = ',', default_value = "1000,200000")]
        files: Vec<usize>,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
    /// Reset time (ioctls) vs the btrfs CLI vs rm -rf, as homes grow.
    Reset {
        /// A directory on btrfs to work in (scratch subvolumes are made and removed there).
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 4)]
        residents: usize,
        /// Files per home, one run each.
        #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
        files: Vec<usize>,
        /// Drop the dentry/inode caches before each measurement (needs the host's /proc/sys).
        #[arg(long)]
        cold: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ResidentCommand {
    /// One line per resident.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Everything declared about one resident.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

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
        Command::Serve => {
            init_logging();
            townhall::os::raise_nofile();
            let town = load(&cli.config)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let managers = townhall::units::SystemdUserManagers::connect().await?;
                let acls = townhall::grant::PosixAcls;
                townhall::serve::Daemon::new(
                    town,
                    townhall::resident::SystemAccounts,
                    managers,
                    acls,
                )?
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
        Command::Level { json } => {
            init_logging();
            round::level(&load(&cli.config)?, json)
        }
        Command::Reset {
            dry_run,
            json,
            by,
            yes,
        } => {
            init_logging();
            round::reset(&load(&cli.config)?, dry_run, json, by, yes)
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
                let median = |v: &[f64]| {
                    let mut s = v.to_vec();
                    s.sort_by(f64::total_cmp);
                    s.get(s.len() / 2).copied().unwrap_or_default()
                };
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
    config::load(dir).map_err(|d| {
        anyhow::anyhow!(
            "{d}\n{} problem(s) in the config at {}: nothing was changed",
            d.0.len(),
            dir.display()
        )
    })
}

fn check(dir: &std::path::Path, json: bool) -> ExitCode {
    match config::load(dir) {
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
/// `townhall chat` is the chat's own binary, which links none of root's code: this only
/// finds it, and refuses root before it runs anything.
fn chat(config: &std::path::Path) -> anyhow::Result<ExitCode> {
    use std::os::unix::process::CommandExt;
    anyhow::ensure!(
        !nix::unistd::geteuid().is_root(),
        "townhall chat refuses to run as root: it reads what anyone in a room sends, so it runs as the unprivileged townhall-chat user\n  help: start it as its unit (systemctl start townhall-chat), or as that user: runuser -u townhall-chat -- townhall-chat"
    );
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
