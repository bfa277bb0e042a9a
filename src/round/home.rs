//! A resident's round ends alone. Each home is a btrfs subvolume of its own, so it can be
//! exchanged on its own in constant time: the new home is built beside the live round (at
//! the volume's top, out of every resident's reach), swapped with the old one in one
//! rename, and the old one sealed and retired like a town's round. Until the exchange a
//! file in root's state dir names the new home's subvolume id, so a reset killed at any
//! step is finished by `recover`: the id says whether the exchange happened.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::apply::{Seams, build_home, make_home, pause};
use super::plan::{HomePlan, ResetPlan};
use super::{Files, RoundState, Subvolumes};
use crate::git::Git;
use crate::level::Presence;
use crate::os::OsError;
use crate::resident::Accounts;

/// Where `name`'s next home is built: beside the live round, never inside it.
pub fn home_next(live: &Path, name: &str) -> PathBuf {
    let live_name = live.file_name().unwrap_or_default().to_string_lossy();
    live.with_file_name(format!("{live_name}.home-{name}.next"))
}

/// A home reset under way: the round it begins, the id of its new home's subvolume, and
/// the round the old home is retired as (0 for a rollback's: its round goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pending {
    pub round: u64,
    pub id: u64,
    #[serde(default)]
    pub lived: u64,
}

fn pending_path(state: &Path, name: &str) -> PathBuf {
    state.join(format!("home-reset-{name}.json"))
}

pub fn pending(state: &Path, name: &str) -> Option<Pending> {
    serde_json::from_slice(&std::fs::read(pending_path(state, name)).ok()?).ok()
}

fn set_pending(state: &Path, name: &str, p: Pending) -> Result<(), OsError> {
    let json = serde_json::to_vec(&p).map_err(|e| OsError::new("encoding a home reset", e))?;
    crate::os::write_atomic(&pending_path(state, name), &json)
}

pub fn clear_pending(state: &Path, name: &str) -> Result<(), OsError> {
    match std::fs::remove_file(pending_path(state, name)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(OsError::new(
            format!("removing {}", pending_path(state, name).display()),
            e,
        )),
        _ => Ok(()),
    }
}

/// What one home's exchange did.
pub struct HomeDone {
    pub kept: Vec<PathBuf>,
    /// The btrfs steps the resident waits on: make the new home, exchange, retire the old.
    pub critical: Duration,
}

/// Build `h`'s new home and exchange it with the live one; the resident is levelled
/// already. Its round is recorded as `round` as soon as the new home is in place.
pub fn exchange_home<S: Subvolumes, F: Files, A: Accounts, G: Git, P: Presence>(
    plan: &ResetPlan,
    h: &HomePlan,
    seams: &Seams<S, F, A, G, P>,
    state: &Path,
    round: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<HomeDone, OsError> {
    let sv = seams.subvolumes;
    let home = plan.live.join(&h.name);
    let next = home_next(&plan.live, &h.name);
    if sv.is_subvolume(&next)? {
        sv.delete_recursive(&next)?;
    }
    progress(&format!(
        "building a new home for {} in {}",
        h.name,
        next.display()
    ));
    let volume = plan.live.parent().unwrap_or(Path::new("/"));
    let next_name = next.file_name().unwrap_or_default().to_string_lossy();
    let t = Instant::now();
    match &h.from {
        Some(checkpoint) => sv.snapshot(checkpoint, &next, false)?,
        None => {
            make_home(sv, seams.files, volume, &next_name)?;
        }
    }
    let mut critical = t.elapsed();
    pause("snapshotted", progress);
    let kept = match &h.from {
        // As it was at the checkpoint, its links into /persist with it.
        Some(_) => h.directories.iter().chain(&h.files).cloned().collect(),
        None => build_home(&next, h, seams.files, seams.git)?,
    };
    // A rolled-back home is deleted, never read for losses: its round goes on.
    let lived = if h.from.is_some() { 0 } else { round - 1 };
    set_pending(
        state,
        &h.name,
        Pending {
            round,
            id: sv.id(&next)?,
            lived,
        },
    )?;
    // Made before the exchange, so that only renames are left on the critical path.
    let retired = retirement(&plan.live, sv, &h.name, lived)?;
    pause("built", progress);
    progress(&format!(
        "exchanging {} with {}",
        next.display(),
        home.display()
    ));
    let t = Instant::now();
    sv.exchange(&home, &next)?;
    pause("exchanged", progress);
    retire_into(sv, &next, &retired, &h.name)?;
    critical += t.elapsed();
    RoundState::new(state).set_round_of(&h.name, round)?;
    clear_pending(state, &h.name)?;
    progress(&format!(
        "{}'s round {} begins; the old home is retired to {}",
        h.name,
        round,
        retired.display()
    ));
    pause("retired", progress);
    Ok(HomeDone { kept, critical })
}

/// Where `name`'s home of its round `round` is retired to (0: a home that was never put in
/// place, which lost nothing): a subvolume of root's alone beside the live round, named so
/// (`retire::retired_kind`), which will hold the home as `NAME` like a retired town round
/// does. Sealed before anything is put in it: no resident reaches the old home by path.
fn retirement(
    live: &Path,
    sv: &impl Subvolumes,
    name: &str,
    round: u64,
) -> Result<PathBuf, OsError> {
    let to = super::retire::retired_home_path(live, name, round);
    sv.create(&to)?;
    sv.seal(&to)?;
    Ok(to)
}

/// Move the old home at `from` into its `retirement`; should the rename fail, it is deleted
/// at once (the new home is in place: the reset must not be reported as failed).
fn retire_into(
    sv: &impl Subvolumes,
    from: &Path,
    retired: &Path,
    name: &str,
) -> Result<(), OsError> {
    if let Err(e) = sv.rename(from, &retired.join(name)) {
        tracing::warn!("{e}: deleting {} now instead", from.display());
        sv.delete_recursive(from)?;
    }
    Ok(())
}

/// Retire the home left at `from` (by a reset that was killed) as `name`'s round `round`.
pub fn retire_home(
    live: &Path,
    sv: &impl Subvolumes,
    from: &Path,
    name: &str,
    round: u64,
) -> Result<PathBuf, OsError> {
    let to = retirement(live, sv, name, round)?;
    retire_into(sv, from, &to, name)?;
    Ok(to)
}
