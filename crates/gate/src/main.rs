//! `townhall-gate`: the one process that holds the town's model API keys, as a user of its
//! own (townhall-gate.service, its keys as systemd credentials). Residents' CLIs reach their
//! model API through it on loopback; SIGHUP reads the town again.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};

/// The gate between the residents' CLIs and their model APIs.
#[derive(Parser)]
#[command(name = "townhall-gate", version)]
struct Args {
    /// The town's config directory (town.toml and residents/).
    #[arg(long, default_value = "/etc/townhall", env = "TOWNHALL_CONFIG")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Measure what the gate adds (first byte, streaming rate) beside a direct connection
    /// to the same loopback upstream, in one run (docs/bench.md).
    Bench {
        /// Answers timed to their first byte, each way.
        #[arg(long, default_value_t = 500)]
        requests: usize,
        /// MiB streamed in one answer, each way.
        #[arg(long, default_value_t = 256)]
        megabytes: usize,
    },
}

fn bench(requests: usize, megabytes: usize) -> anyhow::Result<()> {
    let f = townhall_gate::bench::run(requests, megabytes)?;
    println!("                      direct    through the gate");
    for (title, pair) in [
        ("upstream over HTTPS, as every model API", &f.https),
        ("upstream over plain HTTP: the second hop alone", &f.plain),
    ] {
        let (d, g) = (&pair.direct, &pair.gate);
        println!("{title}");
        println!(
            "  first byte p50 (ms) {:>8.3}    {:>8.3}   (+{:.3})",
            d.first_byte_p50_ms,
            g.first_byte_p50_ms,
            g.first_byte_p50_ms - d.first_byte_p50_ms
        );
        println!(
            "  first byte p90 (ms) {:>8.3}    {:>8.3}",
            d.first_byte_p90_ms, g.first_byte_p90_ms
        );
        println!(
            "  stream (MiB/s)      {:>8.1}    {:>8.1}   ({:.2}x)",
            d.mb_per_s,
            g.mb_per_s,
            g.mb_per_s / d.mb_per_s
        );
        println!(
            "  CPU s per GiB: client {:.3} / {:.3}, upstream {:.3} / {:.3}, gate {:.3}",
            d.client_cpu_s_per_gib,
            g.client_cpu_s_per_gib,
            d.upstream_cpu_s_per_gib,
            g.upstream_cpu_s_per_gib,
            g.gate_cpu_s_per_gib
        );
    }
    println!("{}", serde_json::to_string(&f)?);
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    townhall_os::logging::init("townhall-gate");
    let done = match args.command {
        Some(Command::Bench {
            requests,
            megabytes,
        }) => bench(requests, megabytes),
        None => run(args),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(dir: &Path) -> anyhow::Result<townhall_config::Town> {
    townhall_config::load(dir).map_err(|d| {
        anyhow::anyhow!(
            "{d}\n{} problem(s) in the config at {}",
            d.0.len(),
            dir.display()
        )
    })
}

/// An API's key from the unit's credentials (root's drop-in names each deployed file).
fn key(api: &str) -> Option<String> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
    let id = townhall_wire::credentials::api_key_id(api);
    std::fs::read_to_string(Path::new(&dir).join(id)).ok()
}

fn run(args: Args) -> anyhow::Result<()> {
    if nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "townhall-gate refuses to run as root: it answers every resident's connections, \
             so it runs as the townhall-gate user, which holds the keys and nothing else\n  \
             help: start it as its unit (systemctl start townhall-gate)"
        );
    }
    let town = load(&args.config)?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let listen = town.gate.listen;
        let routes = Arc::new(RwLock::new(townhall_gate::routes::routes(&town, key)));
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen} ([gate] listen in town.toml)"))?;
        // The gate reaches the APIs directly; a proxy in its environment is not its.
        let client = reqwest::Client::builder().no_proxy().build()?;
        let routed = routes.read().expect("lock").by_uid.len();
        tracing::info!(%listen, routed, "the gate is serving");
        let count = Arc::new(townhall_gate::count::RootLedger::default());
        let server = tokio::spawn(townhall_gate::serve(listener, routes.clone(), client, count));
        let (mut term, mut hup) = (
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        );
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = hup.recv() => match load(&args.config) {
                    Ok(t) => {
                        if t.gate.listen != listen {
                            tracing::warn!("[gate] listen changed to {}: it takes effect at the next start", t.gate.listen);
                        }
                        *routes.write().expect("lock") = townhall_gate::routes::routes(&t, key);
                        tracing::info!("routes read again");
                    }
                    Err(e) => tracing::error!("reload refused, the routes stay: {e:#}"),
                },
            }
        }
        server.abort();
        Ok(())
    })
}
