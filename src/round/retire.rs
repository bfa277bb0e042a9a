//! Old rounds are retired, not deleted, on a reset's critical path. Deleting a subvolume
//! costs time in proportion to what the residents wrote in it (the kernel drops every cached
//! dentry under it), but renaming it costs the same at any size. So once the new round is
//! in place, the old one is renamed to `LIVE.retired-STAMP` beside it. It is deleted
//! afterwards, one at a time, at idle CPU and I/O priority: by the daemon after each round
//! and at its start, or by `townhall reset` itself when no daemon runs. A deletion that is
//! interrupted resumes at the next start, and `townhall status` lists what still waits.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Subvolumes;
use crate::config::Town;
use crate::os::OsError;

fn prefix(live: &Path) -> String {
    format!("{}.retired-", live.file_name().map(|n| n.to_string_lossy()).unwrap_or_default())
}

/// A fresh name beside the live subvolume; names sort in the order rounds were retired.
pub fn retired_path(live: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    live.with_file_name(format!("{}{stamp:020}", prefix(live)))
}

/// Move the old round (at `from`) aside, beside `live`. Should the rename fail, it is
/// deleted at once: slower, but the new round is in place and must not be reported as failed.
pub fn retire(live: &Path, subvolumes: &impl Subvolumes, from: &Path) -> Result<PathBuf, OsError> {
    let to = retired_path(live);
    match subvolumes.rename(from, &to) {
        Ok(()) => Ok(to),
        Err(e) => {
            tracing::warn!("{e}: deleting {} now instead", from.display());
            subvolumes.delete_recursive(from)?;
            Ok(from.to_path_buf())
        }
    }
}

/// Old rounds still waiting to be deleted, oldest first.
pub fn retired(town: &Town, subvolumes: &impl Subvolumes) -> Result<Vec<PathBuf>, OsError> {
    let live = town.live_path();
    let prefix = prefix(&live);
    let all = subvolumes.list(live.parent().unwrap_or(Path::new("/")))?;
    Ok(all.into_iter().filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix))).collect())
}

/// Delete every retired round, oldest first; each deleted with how long it took. Another
/// deleter getting there first is not an error.
pub fn delete_retired(town: &Town, subvolumes: &impl Subvolumes, progress: &mut dyn FnMut(&str)) -> Result<Vec<(PathBuf, Duration)>, OsError> {
    let mut done = Vec::new();
    for old in retired(town, subvolumes)? {
        if !subvolumes.is_subvolume(&old)? {
            continue;
        }
        progress(&format!("deleting the retired round {}", old.display()));
        let t = Instant::now();
        subvolumes.delete_recursive(&old)?;
        done.push((old, t.elapsed()));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round::FakeSubvolumes;

    #[test]
    fn the_old_round_is_renamed_aside_listed_and_deleted_later() {
        let town = crate::testing::demo_town();
        let sv = FakeSubvolumes::default();
        let next = crate::round::next_path(&town);
        sv.subvolumes.lock().unwrap().extend([(town.live_path(), false), (next.clone(), false), (next.join("ada/nested"), false)]);
        let to = retire(&town.live_path(), &sv, &next).unwrap();
        assert_eq!(retired(&town, &sv).unwrap(), std::slice::from_ref(&to));
        assert!(sv.is_subvolume(&to.join("ada/nested")).unwrap(), "nested subvolumes go with it");
        let mut said = vec![];
        let gone = delete_retired(&town, &sv, &mut |m| said.push(m.to_string())).unwrap();
        assert_eq!(gone.len(), 1);
        assert!(retired(&town, &sv).unwrap().is_empty());
        assert_eq!(sv.subvolumes.lock().unwrap().iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), [town.live_path()]);
    }

    #[test]
    fn a_failing_rename_deletes_at_once() {
        let town = crate::testing::demo_town();
        let sv = FakeSubvolumes::default();
        let next = crate::round::next_path(&town);
        sv.subvolumes.lock().unwrap().push((next.clone(), false));
        sv.fail.lock().unwrap().push("rename");
        assert_eq!(retire(&town.live_path(), &sv, &next).unwrap(), next);
        assert!(!sv.is_subvolume(&next).unwrap());
    }
}
