//! Entry points other programs run: git's pre-receive hook on the town remote, and the
//! agent CLIs' approval hook (src/approve/hook.rs).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// `townhall hook pre-receive`, run by receive-pack as the remote's user in the repository.
pub fn pre_receive(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let town = super::load(
        &std::env::var_os("TOWNHALL_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.to_owned()),
    )?;
    let pusher = std::env::var("TOWNHALL_PUSHER").context(
        "TOWNHALL_PUSHER is not set: pushes reach the town remote only through `townhall push`",
    )?;
    match townhall::remote::pre_receive(
        &town,
        &pusher,
        std::path::Path::new("."),
        std::io::stdin().lock(),
    ) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(refused) => {
            for r in refused {
                eprintln!("townhall: refused {r}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
