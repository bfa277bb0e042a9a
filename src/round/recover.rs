//! Finishing or rolling back a reset that was killed: run before every reset and when the
//! daemon starts. A reset builds the new round in `LIVE.next` and exchanges it with the live
//! subvolume in one rename, so whatever step it died at, the live subvolume is a whole
//! round; what is left beside it is either an unfinished new round or the old one, and
//! either way it is retired (retire.rs), to be deleted in the background.

use std::path::Path;

use super::RoundState;
use super::apply::ROUND_MARKER;
use super::plan::next_path;
use super::{Files, Subvolumes};
use crate::config::Town;
use crate::os::OsError;

fn marker(files: &impl Files, subvolume: &Path) -> Option<u64> {
    let bytes = files.read(&subvolume.join(ROUND_MARKER)).ok()?;
    String::from_utf8_lossy(&bytes).trim().parse().ok()
}

/// What was found and done, one line each (empty when the last reset finished).
pub fn recover(
    town: &Town,
    subvolumes: &impl Subvolumes,
    files: &impl Files,
) -> Result<Vec<String>, OsError> {
    let (live, next) = (town.live_path(), next_path(town));
    let mut done = Vec::new();
    if !subvolumes.is_subvolume(&live)?
        && subvolumes.is_subvolume(&next)?
        && files.inspect(&live)?.is_none()
    {
        // Only an older townhall (delete, then snapshot) could leave no live subvolume.
        subvolumes.rename(&next, &live)?;
        done.push(format!(
            "{} was missing: put {} in its place",
            live.display(),
            next.display()
        ));
    }
    if subvolumes.is_subvolume(&next)? {
        let which = match (marker(files, &next), marker(files, &live)) {
            (Some(n), Some(l)) if n < l => "the old round, after the exchange",
            _ => "a new round that was never put in place",
        };
        let to = super::retire::retire(&live, subvolumes, &next)?;
        done.push(format!(
            "retired {} left by an interrupted reset ({which}) to {}",
            next.display(),
            to.display()
        ));
    }
    for r in &town.residents {
        done.extend(recover_home(town, &r.name, subvolumes)?);
    }
    let state = RoundState::new(&town.state);
    // The live subvolume's marker is root's: it repairs a counter that was lost or garbled.
    if let Some(live_round) = marker(files, &live)
        && !state.round().is_ok_and(|r| r >= live_round)
    {
        state.set_round(live_round)?;
        crate::audit::append(
            &town.state,
            "reset-recovered",
            &serde_json::json!({ "round": live_round, "done": done }),
        )?;
        done.push(format!(
            "round {live_round} was in place but not recorded: recorded it"
        ));
    }
    Ok(done)
}

/// A home reset of `name` that was killed: its new home left beside the live round is
/// retired. The pending file's subvolume id says whether the exchange happened: if the
/// live home is the new one, what is left is the old home (lived in: its losses are told)
/// and the resident's round is recorded; otherwise it is a new home never put in place.
fn recover_home(
    town: &Town,
    name: &str,
    subvolumes: &impl Subvolumes,
) -> Result<Vec<String>, OsError> {
    let live = town.live_path();
    let next = super::home::home_next(&live, name);
    let pending = super::home::pending(&town.state, name);
    let mut done = Vec::new();
    let home = live.join(name);
    let exchanged = pending.filter(|p| subvolumes.id(&home).is_ok_and(|id| id == p.id));
    if let Some(p) = exchanged {
        RoundState::new(&town.state).set_round_of(name, p.round)?;
    }
    if subvolumes.is_subvolume(&next)? {
        let (round, which) = match exchanged {
            Some(p) => (p.lived, "the old home, after the exchange"),
            None => (0, "a new home that was never put in place"),
        };
        let to = super::home::retire_home(&live, subvolumes, &next, name, round)?;
        done.push(format!(
            "retired {} left by an interrupted reset of {name} ({which}) to {}",
            next.display(),
            to.display()
        ));
    }
    if pending.is_some() {
        super::home::clear_pending(&town.state, name)?;
    }
    Ok(done)
}

/// Hold the state dir's lock so two resets (the CLI's, a mayor's from chat, the daemon's
/// recovery) never interleave. Released when the returned lock is dropped or the process dies.
pub fn lock(state: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, OsError> {
    let path = state.join("reset.lock");
    let what = || format!("locking {}", path.display());
    std::fs::create_dir_all(state).map_err(|e| OsError::new(what(), e))?;
    let file = std::fs::File::create(&path).map_err(|e| OsError::new(what(), e))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| OsError::new(what(), format!("another reset is running ({e})")))
}
