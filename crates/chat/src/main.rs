//! `townhall-chat`: every resident's Matrix bot in one unprivileged process (its own user,
//! townhall-chat.service). It links the declared town, the hall's protocol and the shared
//! file writes, and none of root's code: all it may do to the host, it asks of root.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// The residents' Matrix bots, asking the townhall daemon over the hall.
#[derive(Parser)]
#[command(name = "townhall-chat", version)]
struct Args {
    /// The town's config directory (town.toml and residents/).
    #[arg(long, default_value = "/etc/townhall", env = "TOWNHALL_CONFIG")]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    townhall_os::logging::init("townhall-chat");
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    townhall_chat::remote::refuse_root()?;
    townhall_os::raise_nofile();
    let town = townhall_config::load(&args.config).map_err(|d| {
        anyhow::anyhow!(
            "{d}\n{} problem(s) in the config at {}",
            d.0.len(),
            args.config.display()
        )
    })?;
    tokio::runtime::Runtime::new()?.block_on(townhall_chat::remote::run(&args.config, town))
}
