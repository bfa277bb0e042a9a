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
    format!(
        "{}.retired-",
        live.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    )
}

/// A fresh name beside the live subvolume; names sort in the order rounds were retired.
pub fn retired_path(live: &Path) -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    live.with_file_name(format!("{}{stamp:020}", prefix(live)))
}

/// A fresh retired name for `name`'s home (or checkpoint) of its round `round`, which
/// `retired_kind` reads back.
pub fn retired_home_path(live: &Path, name: &str, round: u64) -> PathBuf {
    let mut to = retired_path(live).into_os_string();
    to.push(format!(".{name}.{round}"));
    PathBuf::from(to)
}

/// What a retired subvolume held: the whole town's round, or one resident's home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retired {
    Town,
    /// `name`'s home in its round `round` (0: never put in place).
    Home {
        name: String,
        round: u64,
    },
}

/// Read what `path` (one of `retired`'s) held from its name, which root gave it.
pub fn retired_kind(live: &Path, path: &Path) -> Option<Retired> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix(&prefix(live))?;
    let mut parts = rest.split('.');
    let _stamp = parts.next()?;
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => Some(Retired::Town),
        (Some(name), Some(round), None) => Some(Retired::Home {
            name: name.to_string(),
            round: round.parse().ok()?,
        }),
        _ => None,
    }
}

/// Move the old round (at `from`) aside, beside `live`. Should the rename fail, it is
/// deleted at once: slower, but the new round is in place and must not be reported as failed.
pub fn retire(live: &Path, subvolumes: &impl Subvolumes, from: &Path) -> Result<PathBuf, OsError> {
    // Before anything else: the old round was the residents', and none of them may reach
    // any of it by path from now on (their processes are gone already).
    if let Err(e) = subvolumes.seal(from) {
        tracing::error!("{e}");
    }
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
    Ok(all
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect())
}

/// What became of one retired round: deleted (in how long) or not, and why.
pub type Deleted = (PathBuf, Result<Duration, OsError>);

/// Delete every retired round, oldest first, each on its own: one that cannot be deleted
/// never keeps the others. `wait` holds back the rounds that wait to be tried again.
/// Another deleter getting there first is not an error.
pub fn delete_retired(
    town: &Town,
    subvolumes: &impl Subvolumes,
    wait: &dyn Fn(&Path) -> bool,
    progress: &mut dyn FnMut(&str),
) -> Result<Vec<Deleted>, OsError> {
    let mut done = Vec::new();
    for old in retired(town, subvolumes)? {
        if wait(&old) || !subvolumes.is_subvolume(&old)? {
            continue;
        }
        progress(&format!("deleting the retired round {}", old.display()));
        let t = Instant::now();
        let r = subvolumes.delete_recursive(&old).map(|()| t.elapsed());
        done.push((old, r));
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
        sv.subvolumes.lock().unwrap().extend([
            (town.live_path(), false),
            (next.clone(), false),
            (next.join("ada/nested"), false),
        ]);
        let to = retire(&town.live_path(), &sv, &next).unwrap();
        assert_eq!(retired(&town, &sv).unwrap(), std::slice::from_ref(&to));
        assert!(
            sv.is_subvolume(&to.join("ada/nested")).unwrap(),
            "nested subvolumes go with it"
        );
        let mut said = vec![];
        let gone =
            delete_retired(&town, &sv, &|_| false, &mut |m| said.push(m.to_string())).unwrap();
        assert_eq!(gone.len(), 1);
        assert!(gone[0].1.is_ok());
        assert!(retired(&town, &sv).unwrap().is_empty());
        assert_eq!(
            sv.subvolumes
                .lock()
                .unwrap()
                .iter()
                .map(|(p, _)| p.clone())
                .collect::<Vec<_>>(),
            [town.live_path()]
        );
    }

    #[test]
    fn a_round_that_cannot_be_deleted_keeps_no_other_and_a_waiting_one_is_skipped() {
        let town = crate::testing::demo_town();
        let sv = FakeSubvolumes::default();
        let (a, b, c) = (
            town.live_path().with_extension("retired-1"),
            town.live_path().with_extension("retired-2"),
            town.live_path().with_extension("retired-3"),
        );
        sv.subvolumes.lock().unwrap().extend([
            (a.clone(), false),
            (b.clone(), false),
            (c.clone(), false),
        ]);
        sv.fail.lock().unwrap().push("delete");
        let tried = delete_retired(&town, &sv, &|p| p == c, &mut |_| {}).unwrap();
        assert_eq!(
            tried
                .iter()
                .map(|(p, r)| (p.clone(), r.is_err()))
                .collect::<Vec<_>>(),
            [(a.clone(), true), (b.clone(), true)],
            "both tried, c waits"
        );
        sv.fail.lock().unwrap().clear();
        let tried = delete_retired(&town, &sv, &|_| false, &mut |_| {}).unwrap();
        assert_eq!(tried.len(), 3);
        assert!(retired(&town, &sv).unwrap().is_empty());
    }

    #[test]
    fn a_retired_name_says_whose_round_it_held() {
        let live = Path::new("/town/@agents");
        let town = retired_path(live);
        let home = PathBuf::from(format!("{}.ada.6", town.display()));
        assert_eq!(retired_kind(live, &town), Some(Retired::Town));
        assert_eq!(
            retired_kind(live, &home),
            Some(Retired::Home {
                name: "ada".into(),
                round: 6
            })
        );
        assert_eq!(retired_kind(live, Path::new("/town/@agents")), None);
        assert_eq!(retired_kind(live, &home.with_extension("x.y")), None);
    }

    #[test]
    fn the_old_round_is_sealed_before_it_is_renamed() {
        let town = crate::testing::demo_town();
        let sv = FakeSubvolumes::default();
        let next = crate::round::next_path(&town);
        sv.subvolumes.lock().unwrap().push((next.clone(), false));
        retire(&town.live_path(), &sv, &next).unwrap();
        let calls = sv.calls.calls();
        assert!(
            calls[0].starts_with("seal ") && calls[1].starts_with("rename "),
            "{calls:?}"
        );
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
