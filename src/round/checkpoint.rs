//! Checkpoints within a round: a read-only snapshot of a resident's home, taken in constant
//! time, kept on a shelf of root's alone beside the live round (`LIVE.checkpoints`, 0700),
//! listed from a state file of root's, and gone at the resident's next reset (renamed
//! aside as retired, deleted in the background). A rollback exchanges the home for a
//! writable snapshot of one (`apply::apply_alone` with the checkpoint as the new home).

use std::path::{Path, PathBuf};

use super::{RoundState, Subvolumes};
use crate::config::Town;
use crate::os::OsError;

/// One checkpoint of a resident's home.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// Numbered per resident, from 1, never reused within a round.
    pub n: u64,
    pub label: String,
    /// When it was taken (RFC 3339).
    pub taken: String,
    /// The resident's round it was taken in.
    pub round: u64,
    /// What it holds, measured once when it was taken (it never changes): bytes and
    /// entries, a floor when not `whole` (the walk stopped at `COUNT_AT_MOST`).
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub entries: u64,
    #[serde(default)]
    pub whole: bool,
}

/// A checkpoint's walk stops here: the figures are then a floor, and taking one stays quick.
const COUNT_AT_MOST: usize = 100_000;

/// Why a checkpoint or a rollback was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("there is no resident {0} in this town\n  help: name one of residents/*.toml")]
    NoResident(String),
    #[error(
        "{resident} has no checkpoint {n}\n  help: `!checkpoints` lists the ones there are; they end with the round"
    )]
    NoCheckpoint { resident: String, n: u64 },
    #[error(
        "the home of {resident} is not a subvolume of its own, so it cannot be checkpointed\n  help: end the round for everyone once (`townhall reset` with no name): it builds every home as a subvolume"
    )]
    NotSubvolume { resident: String },
    #[error(
        "a label is at most 80 printable characters\n  help: shorten it, e.g. `!checkpoint before the refactor`"
    )]
    BadLabel,
    #[error(transparent)]
    Os(#[from] OsError),
}

/// The shelf every resident's checkpoints are kept on.
pub fn shelf(town: &Town) -> PathBuf {
    let live = town.live_path();
    let name = live.file_name().unwrap_or_default().to_string_lossy();
    live.with_file_name(format!("{name}.checkpoints"))
}

/// Where checkpoint `n` of `resident` is.
pub fn checkpoint_path(town: &Town, resident: &str, n: u64) -> PathBuf {
    shelf(town).join(format!("{resident}.{n}"))
}

fn list_path(town: &Town, resident: &str) -> PathBuf {
    town.state.join(format!("checkpoints-{resident}.json"))
}

/// The checkpoints of `resident`, oldest first.
pub fn list(town: &Town, resident: &str) -> Vec<Checkpoint> {
    std::fs::read(list_path(town, resident))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(town: &Town, resident: &str, list: &[Checkpoint]) -> Result<(), OsError> {
    let json =
        serde_json::to_vec_pretty(list).map_err(|e| OsError::new("encoding the checkpoints", e))?;
    crate::os::write_atomic(&list_path(town, resident), &json)
}

fn fits(label: &str) -> bool {
    label.chars().count() <= 80 && !label.chars().any(char::is_control)
}

/// Take a checkpoint of `resident`'s home; over the town's cap, the oldest is retired.
pub fn take(
    town: &Town,
    sv: &impl Subvolumes,
    resident: &str,
    label: &str,
) -> Result<Checkpoint, CheckpointError> {
    if town.resident(resident).is_none() {
        return Err(CheckpointError::NoResident(resident.into()));
    }
    if !fits(label) {
        return Err(CheckpointError::BadLabel);
    }
    let home = town.live_path().join(resident);
    if !sv.is_subvolume(&home)? {
        return Err(CheckpointError::NotSubvolume {
            resident: resident.into(),
        });
    }
    let _lock = super::lock(&town.state)?;
    let shelf = shelf(town);
    if !sv.is_subvolume(&shelf)? {
        sv.create(&shelf)?;
        sv.seal(&shelf)?;
    }
    let mut all = list(town, resident);
    let n = all.iter().map(|c| c.n).max().unwrap_or(0) + 1;
    let at = checkpoint_path(town, resident, n);
    sv.snapshot(&home, &at, true)?;
    let (bytes, entries, whole) = size(&at, COUNT_AT_MOST);
    let rounds = RoundState::new(&town.state);
    if rounds.round().map_err(OsError::from)? == 0 {
        // A town not reset yet: its counter is written before the audit log, which would
        // otherwise read as a town whose counter was lost.
        rounds.set_round(0)?;
    }
    let taken = Checkpoint {
        n,
        label: label.to_string(),
        taken: super::now_rfc3339(),
        round: rounds.round_of(resident).map_err(OsError::from)?,
        bytes,
        entries: entries as u64,
        whole,
    };
    all.push(taken.clone());
    let over = all.len().saturating_sub(town.btrfs.checkpoints as usize);
    for old in all.drain(..over) {
        retire_one(town, sv, resident, old.n)?;
    }
    save(town, resident, &all)?;
    crate::audit::append(
        &town.state,
        "checkpoint",
        &serde_json::json!({ "resident": resident, "n": n, "label": label }),
    )?;
    Ok(taken)
}

/// Checkpoint `n` of `resident`, when it is there.
pub fn find(town: &Town, resident: &str, n: u64) -> Result<PathBuf, CheckpointError> {
    if !list(town, resident).iter().any(|c| c.n == n) {
        return Err(CheckpointError::NoCheckpoint {
            resident: resident.into(),
            n,
        });
    }
    Ok(checkpoint_path(town, resident, n))
}

fn retire_one(town: &Town, sv: &impl Subvolumes, resident: &str, n: u64) -> Result<(), OsError> {
    let path = checkpoint_path(town, resident, n);
    if sv.is_subvolume(&path)? {
        // A checkpoint retires as a round that lost nothing: deleted, never read. Out of
        // the shelf it cannot move read-only, and nothing reaches it once it is renamed.
        sv.make_writable(&path)?;
        let to = super::retire::retired_home_path(&town.live_path(), resident, 0);
        sv.rename(&path, &to)?;
    }
    Ok(())
}

/// The resident's round ended: its checkpoints go with it, deleted in the background.
pub fn retire_all(town: &Town, sv: &impl Subvolumes, resident: &str) -> Result<usize, OsError> {
    let all = list(town, resident);
    for c in &all {
        retire_one(town, sv, resident, c.n)?;
    }
    save(town, resident, &[])?;
    Ok(all.len())
}

/// What a checkpoint holds: bytes and entries, by a walk that never follows a symlink and
/// stops at `max` entries (then the figures are a floor).
fn size(path: &Path, max: usize) -> (u64, usize, bool) {
    use std::os::unix::fs::MetadataExt;
    let (mut bytes, mut entries) = (0u64, 0usize);
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in read.flatten() {
            if entries >= max {
                return (bytes, entries, false);
            }
            entries += 1;
            let Ok(meta) = e.metadata() else { continue };
            bytes += meta.blocks() * 512;
            if meta.is_dir() {
                dirs.push(e.path());
            }
        }
    }
    (bytes, entries, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round::FakeSubvolumes;

    fn town() -> (Town, tempfile::TempDir) {
        let mut town = crate::testing::demo_town();
        let state = tempfile::tempdir().unwrap();
        town.state = state.path().to_owned();
        town.btrfs.checkpoints = 2;
        (town, state)
    }

    #[test]
    fn a_checkpoint_is_a_read_only_snapshot_on_roots_shelf_and_the_oldest_goes_over_the_cap() {
        let (town, _state) = town();
        let sv = FakeSubvolumes::default();
        sv.create(&town.live_path().join("ada")).unwrap();
        for label in ["one", "two", "three"] {
            take(&town, &sv, "ada", label).unwrap();
        }
        let calls = sv.calls.calls();
        assert_eq!(
            calls[1..5],
            [
                "create /town/@agents.checkpoints",
                "seal /town/@agents.checkpoints",
                "snapshot /town/@agents/ada /town/@agents.checkpoints/ada.1 ro=true",
                "snapshot /town/@agents/ada /town/@agents.checkpoints/ada.2 ro=true",
            ],
            "{calls:?}"
        );
        assert_eq!(calls[6], "writable /town/@agents.checkpoints/ada.1");
        assert!(
            calls[7].starts_with("rename /town/@agents.checkpoints/ada.1 /town/@agents.retired-")
                && calls[7].ends_with(".ada.0"),
            "the oldest retires, lost nothing: {calls:?}"
        );
        let kept: Vec<_> = list(&town, "ada").iter().map(|c| c.n).collect();
        assert_eq!(kept, [2, 3]);
        assert!(find(&town, "ada", 1).is_err());
        assert!(find(&town, "ada", 3).is_ok());
        assert_eq!(retire_all(&town, &sv, "ada").unwrap(), 2);
        assert!(list(&town, "ada").is_empty());
        assert!(
            !sv.is_subvolume(&checkpoint_path(&town, "ada", 3)).unwrap(),
            "gone from the shelf"
        );
    }

    #[test]
    fn a_home_that_is_not_a_subvolume_a_stranger_or_a_bad_label_is_refused() {
        let (town, _state) = town();
        let sv = FakeSubvolumes::default();
        assert!(matches!(
            take(&town, &sv, "ada", ""),
            Err(CheckpointError::NotSubvolume { .. })
        ));
        assert!(matches!(
            take(&town, &sv, "nobody", ""),
            Err(CheckpointError::NoResident(_))
        ));
        sv.create(&town.live_path().join("ada")).unwrap();
        assert!(matches!(
            take(&town, &sv, "ada", "a\nb"),
            Err(CheckpointError::BadLabel)
        ));
        assert!(list(&town, "ada").is_empty());
    }
}
