//! Rounds: levelling /agents to the blank snapshot, rebuilding homes from /persist and the
//! declared secrets, and recording each round.

mod apply;
mod files;
mod init;
mod plan;
mod subvolume;
#[cfg(test)]
mod tests;

pub use apply::{ResetReport, RoundState, Seams, apply_reset, build_home, now_rfc3339, run_reset};
pub use files::{FakeFiles, Files, HostFiles, Kind, Node, Owner};
pub use init::{InitRefusal, init};
pub use plan::{HomePlan, Refusal, ResetPlan, check_volume, plan_reset};
pub use subvolume::{Btrfs, FakeSubvolumes, Subvolumes};

/// The real adapters a round acts through.
pub fn host_seams() -> Seams<'static, Btrfs, HostFiles, crate::resident::SystemAccounts, crate::git::Git2> {
    Seams { subvolumes: &Btrfs, files: &HostFiles, accounts: &crate::resident::SystemAccounts, git: &crate::git::Git2 }
}
