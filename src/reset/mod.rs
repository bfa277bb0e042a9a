//! Ending a round: the one procedure `townhall reset` (at a terminal and at boot) and a
//! mayor's `!reset` in chat both run. The round module holds the mechanism (plan, level,
//! exchange, retire); this puts the town's other concerns around it in their order: the
//! lock, recovery of an interrupted reset, the signing keys, the running turns, the remote.

use crate::config::Town;
use crate::machine::Machine;
use crate::os::OsError;
use crate::round::{Refusal, ResetPlan, ResetReport};

/// Who is told what as a reset goes: a terminal, or the daemon's journal and turns.
pub trait Witness {
    /// A step done, as it happens.
    fn progress(&mut self, line: &str);
    /// Something a person should look at that did not stop the reset.
    fn warning(&mut self, line: &str);
    /// The plan is checked and levelling is next: end the running turns of the residents
    /// `only` names now (every resident's when it names none).
    fn before_levelling(&mut self, _only: &[String]) {}
}

/// Why a reset did not happen (refused: nothing changed) or stopped part-way (the next
/// reset, or the daemon at start, finishes or repairs it).
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error("{}", lines(.0))]
    Refused(Vec<Refusal>),
    #[error(transparent)]
    Checkpoint(#[from] crate::round::CheckpointError),
    #[error(transparent)]
    Os(#[from] OsError),
}

fn lines(refusals: &[Refusal]) -> String {
    let lines: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// What a reset of the residents `only` names (none: the whole town) would do, checked
/// against what is there; nothing is changed.
pub fn plan(town: &Town, only: &[String], machine: &impl Machine) -> Result<ResetPlan, ResetError> {
    let seams = machine.round();
    let mut plan =
        crate::round::plan_for(town, only, seams.subvolumes, seams.files, seams.accounts)
            .map_err(ResetError::Refused)?;
    plan.shared = crate::level::shared_dirs(town);
    Ok(plan)
}

/// The lock no other reset gets while it is held, and a reset that was killed finished.
fn begin(
    town: &Town,
    machine: &impl Machine,
    witness: &mut dyn Witness,
) -> Result<nix::fcntl::Flock<std::fs::File>, ResetError> {
    let seams = machine.round();
    let lock = crate::round::lock(&town.state)?;
    for line in crate::round::recover(town, seams.subvolumes, seams.files)? {
        witness.warning(&line);
    }
    Ok(lock)
}

/// End the round for the residents `only` names alone, or for every resident when it names
/// none, and begin the next, recorded as reset `by`.
pub fn end_round(
    town: &Town,
    only: &[String],
    machine: &impl Machine,
    by: &str,
    witness: &mut dyn Witness,
) -> Result<ResetReport, ResetError> {
    let seams = machine.round();
    let _lock = begin(town, machine, witness)?;
    let mut plan = plan(town, only, machine)?;
    for line in crate::sign::sign_plan(&mut plan, town, machine.keys()) {
        witness.warning(&line);
    }
    witness.before_levelling(only);
    let report =
        crate::round::run_reset(&plan, &seams, &town.state, by, &mut |m| witness.progress(m))?;
    for line in crate::remote::after_reset(town, only, machine.remote()) {
        witness.warning(&line);
    }
    // Checkpoints are of the round that ended: they go with it, deleted in the background.
    for h in &plan.homes {
        if let Err(e) = crate::round::checkpoint::retire_all(town, seams.subvolumes, &h.name) {
            witness.warning(&format!("{}'s checkpoints: {e}", h.name));
        }
    }
    Ok(report)
}

/// Roll `resident`'s home back to its checkpoint `n`: its turns end, it is levelled, and its
/// home is exchanged for a writable snapshot of the checkpoint. Its round goes on; what
/// persists under /persist is not rolled back. Recorded as by `by`.
pub fn rollback(
    town: &Town,
    resident: &str,
    n: u64,
    machine: &impl Machine,
    by: &str,
    witness: &mut dyn Witness,
) -> Result<ResetReport, ResetError> {
    let seams = machine.round();
    let _lock = begin(town, machine, witness)?;
    let checkpoint = crate::round::checkpoint::find(town, resident, n)?;
    let only = [resident.to_string()];
    let mut plan = plan(town, &only, machine)?;
    for h in &mut plan.homes {
        h.from = Some(checkpoint.clone());
    }
    witness.before_levelling(&only);
    let report =
        crate::round::run_reset(&plan, &seams, &town.state, by, &mut |m| witness.progress(m))?;
    // Its conversations' worktrees made since the checkpoint are gone: each is placed again.
    if let Err(e) = crate::worktree::Kept::load(&town.state).and_then(|k| k.forget(resident)) {
        witness.warning(&format!("{resident}'s conversations' worktrees: {e}"));
    }
    crate::audit::append(
        &town.state,
        "rollback",
        &serde_json::json!({ "resident": resident, "checkpoint": n, "by": by }),
    )?;
    Ok(report)
}

#[cfg(test)]
mod tests;
