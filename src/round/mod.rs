//! Rounds: levelling /agents to the blank snapshot, rebuilding homes from /persist and the
//! declared secrets, and recording each round.

mod apply;
pub mod checkpoint;
mod files;
mod home;
mod init;
mod losses;
mod plan;
mod recover;
mod retire;
mod state;
mod subvolume;
mod subvolume_tree;
#[cfg(test)]
mod tests;
mod warning;

pub use apply::{
    Quarantined, ROUND_MARKER, ResetReport, STEPS, Seams, apply_alone, apply_reset, build_home,
    make_home, now_rfc3339, run_reset,
};
pub use checkpoint::{Checkpoint, CheckpointError};
#[cfg(test)]
pub use files::FakeFiles;
pub use files::{Files, HostFiles, Kind, Node, Owner};
pub use home::{Pending, home_next, pending};
pub use init::{InitRefusal, init};
pub use losses::{
    BOUND_HOME, Losses, Outside, RepoState, become_resident, examine, losses, losses_in,
};
pub use plan::{
    HomePlan, Misfit, Refusal, ResetPlan, check_volume, misfits, next_path, plan_for, plan_reset,
};
pub use recover::{lock, recover};
pub use retire::{Retired, delete_retired, retire, retired, retired_kind, retired_path};
pub use state::{RoundFileError, RoundState};
#[cfg(test)]
pub use subvolume::FakeSubvolumes;
pub use subvolume::{Btrfs, Subvolumes};
pub use warning::{ResetWarning, Trouble};
