//! The town's own network namespace: nothing a test sets (the egress rules a town loads,
//! the "internet" namespaces a check makes) reaches the host's network.

use std::process::Command;

use anyhow::{Context, ensure};
use nix::sched::{CloneFlags, unshare};

use super::town;

/// Move this process, and everything it starts from now on (town.sh, Synapse, udevd, the
/// container), into a fresh network namespace with only loopback. Call it before any thread
/// is started: unshare changes the calling thread, and threads inherit from their parent.
pub fn isolate() -> anyhow::Result<()> {
    // The caches need the package mirrors, which only the host's namespace reaches.
    town::prepare().context("preparing the town's caches before leaving the host network")?;
    unshare(CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
    let up = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .context("running ip (iproute2)")?;
    ensure!(up.success(), "`ip link set lo up` failed ({up})");
    Ok(())
}
