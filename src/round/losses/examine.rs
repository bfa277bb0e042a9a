//! Reading a home inside the helper, as the resident: each workspace repository with
//! libgit2 (nothing of its own config runs), and the files outside the persisted paths by a
//! walk that never follows a symlink and stops at a bound.

use std::path::{Path, PathBuf};

use super::{Losses, Outside, RepoState};
use crate::config::Resident;

const SHOWN: usize = 5;
const WALK_MAX: u64 = 100_000;
const REPOS_MAX: usize = 50;

/// Read what `r` loses from its home at `home` (inside the helper, as the resident);
/// `live` is where the home lives, that its worktrees' links name.
pub fn examine(r: &Resident, home: &Path, live: &Path) -> Losses {
    let kept: Vec<PathBuf> = r.persist.paths().cloned().collect();
    let persisted = |rel: &Path| kept.iter().any(|k| rel.starts_with(k));
    let mut out = Losses {
        resident: r.name.clone(),
        ..Default::default()
    };
    let workspace = &r.agent.workspace;
    let mut repos = vec![workspace.clone()];
    repos.extend(entries(home, workspace));
    for rel in repos
        .into_iter()
        .filter(|rel| home.join(rel).join(".git").symlink_metadata().is_ok())
    {
        let state = repo_state(&home.join(&rel));
        out.add(state, &rel, persisted(&rel));
    }
    // Each conversation's worktree: its uncommitted files and its own branch's commits.
    for rel in entries(home, Path::new(crate::worktree::DIR)) {
        let state = worktree_state(home, live, &rel);
        out.add(state, &rel, persisted(&rel));
    }
    // What every round writes afresh is not lost.
    let mut skip: Vec<PathBuf> = r.secrets.iter().map(|s| s.target.clone()).collect();
    skip.extend(
        [
            ".gitconfig",
            ".profile",
            ".config/environment.d/50-townhall.conf",
        ]
        .map(PathBuf::from),
    );
    out.files = outside(home, &|rel: &Path| {
        persisted(rel) || skip.iter().any(|s| s == rel)
    });
    out
}

impl Losses {
    /// A repository's state at `rel`, kept when it loses anything; why not, as a note.
    fn add(&mut self, state: Result<RepoState, String>, rel: &Path, persisted: bool) {
        match state {
            Ok(mut s) => {
                s.path = rel.display().to_string();
                s.persisted = persisted;
                if s.uncommitted_count + s.unpushed_count > 0 {
                    self.repos.push(s);
                }
            }
            Err(e) => self.notes.push(format!("{}: {e}", rel.display())),
        }
    }
}

/// The directories in `home`'s `dir` (never through a symlink), sorted, at most REPOS_MAX.
fn entries(home: &Path, dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(home.join(dir)) else {
        return Vec::new();
    };
    let mut subs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| dir.join(e.file_name()))
        .collect();
    subs.sort();
    subs.truncate(REPOS_MAX);
    subs
}

/// `git status`'s two letters for a file's state, from libgit2's flags.
fn status_letters(s: git2::Status) -> String {
    use git2::Status as S;
    if s.contains(S::WT_NEW) {
        return "??".into();
    }
    let index = if s.contains(S::INDEX_NEW) {
        'A'
    } else if s.contains(S::INDEX_MODIFIED) {
        'M'
    } else if s.contains(S::INDEX_DELETED) {
        'D'
    } else if s.contains(S::INDEX_RENAMED) {
        'R'
    } else {
        ' '
    };
    let tree = if s.contains(S::WT_MODIFIED) || s.contains(S::WT_TYPECHANGE) {
        'M'
    } else if s.contains(S::WT_DELETED) {
        'D'
    } else if s.contains(S::WT_RENAMED) {
        'R'
    } else {
        ' '
    };
    format!("{index}{tree}")
}

fn open(dir: &Path) -> Result<git2::Repository, String> {
    git2::Repository::open_ext(
        dir,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&std::ffi::OsStr>(),
    )
    .map_err(|e| e.message().to_string())
}

/// A repository's uncommitted files and the commits of its branches that no `town`
/// remote-tracking branch has, read with libgit2 (nothing of the repository's config runs).
fn repo_state(dir: &Path) -> Result<RepoState, String> {
    state_of(&open(dir)?, |walk| walk.push_glob("refs/heads/*"))
}

/// A worktree at `rel` in the home read at `home`: its uncommitted files, and the commits
/// of its own branch the town remote has not got. Its `.git` file names its repository's
/// admin dir by the home's live path (`live`, or where that resolves), so the admin dir is
/// read in the home at hand when it is there (a retired round's own repository), else
/// where the link names.
fn worktree_state(home: &Path, live: &Path, rel: &Path) -> Result<RepoState, String> {
    let dir = home.join(rel);
    let link = dir.join(".git");
    let meta = link.symlink_metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() || meta.len() > 4096 {
        return Err("its .git is not a worktree's link".into());
    }
    let text = std::fs::read_to_string(&link).map_err(|e| e.to_string())?;
    let named = text
        .strip_prefix("gitdir: ")
        .map(|p| PathBuf::from(p.trim_end()))
        .ok_or("its .git is not a worktree's link")?;
    let lives = [Some(live.to_path_buf()), live.canonicalize().ok()];
    let here = lives
        .iter()
        .flatten()
        .find_map(|l| named.strip_prefix(l).ok())
        .map(|rest| home.join(rest))
        .filter(|p| p.is_dir());
    let repo = open(here.as_deref().unwrap_or(&named))?;
    repo.set_workdir(&dir, false)
        .map_err(|e| e.message().to_string())?;
    // Its own commits: those of its branch not on the main checkout's HEAD (counted there).
    let main = git2::Repository::open_ext(
        repo.commondir(),
        git2::RepositoryOpenFlags::NO_SEARCH | git2::RepositoryOpenFlags::BARE,
        std::iter::empty::<&std::ffi::OsStr>(),
    );
    let main_head = main.ok().and_then(|m| m.head().ok()?.target());
    state_of(&repo, |walk| {
        walk.push_head()?;
        main_head.map_or(Ok(()), |oid| walk.hide(oid))
    })
}

/// `repo`'s state, counting the commits `count` puts on the walk that no `town`
/// remote-tracking branch has.
fn state_of(
    repo: &git2::Repository,
    count: impl FnOnce(&mut git2::Revwalk) -> Result<(), git2::Error>,
) -> Result<RepoState, String> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo
        .statuses(Some(&mut opts))
        .map_err(|e| e.message().to_string())?;
    let status: Vec<String> = statuses
        .iter()
        .filter(|e| !e.status().is_empty() && !e.status().contains(git2::Status::IGNORED))
        .map(|e| format!("{} {}", status_letters(e.status()), e.path().unwrap_or("?")))
        .collect();
    let mut log = Vec::new();
    let mut walk = repo.revwalk().map_err(|e| e.message().to_string())?;
    if count(&mut walk).is_ok() && walk.hide_glob("refs/remotes/town/*").is_ok() {
        for oid in walk.flatten().take(10_000) {
            let subject = repo
                .find_commit(oid)
                .ok()
                .and_then(|c| c.summary().ok().flatten().map(String::from))
                .unwrap_or_default();
            log.push(format!("{} {subject}", &oid.to_string()[..7]));
        }
    }
    Ok(RepoState {
        path: String::new(),
        persisted: false,
        uncommitted: status.iter().take(SHOWN).map(|l| clip(l)).collect(),
        uncommitted_count: status.len(),
        unpushed: log.iter().take(SHOWN).map(|l| clip(l)).collect(),
        unpushed_count: log.len(),
    })
}

fn clip(s: &str) -> String {
    s.chars().take(120).collect()
}

/// Regular files under `home`, not descending into symlinks or what `kept` says stays.
fn outside(home: &Path, kept: &dyn Fn(&Path) -> bool) -> Outside {
    let mut out = Outside::default();
    let mut stack = vec![PathBuf::new()];
    let mut seen = 0u64;
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(home.join(&rel)) else {
            continue;
        };
        for e in entries.flatten() {
            seen += 1;
            if seen > WALK_MAX {
                out.partial = true;
                return out;
            }
            let path = rel.join(e.file_name());
            if kept(&path) {
                continue;
            }
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.count += 1;
                out.bytes = out.bytes.saturating_add(meta.len());
                out.largest.push((path.display().to_string(), meta.len()));
                out.largest
                    .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                out.largest.truncate(SHOWN);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_counts_what_is_not_kept_and_never_follows_a_symlink() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        std::fs::create_dir_all(h.join("work/deep")).unwrap();
        std::fs::create_dir_all(h.join("notes")).unwrap();
        std::fs::write(h.join("work/deep/big"), vec![0u8; 5000]).unwrap();
        std::fs::write(h.join("work/small"), b"x").unwrap();
        std::fs::write(h.join("notes/kept"), vec![0u8; 9000]).unwrap();
        std::os::unix::fs::symlink("/", h.join("root-link")).unwrap();
        let o = outside(h, &|rel: &Path| rel.starts_with("notes"));
        assert_eq!((o.count, o.bytes, o.partial), (2, 5001, false));
        assert_eq!(o.largest[0], ("work/deep/big".to_string(), 5000));
    }

    /// Stock git in `repo`, with `home` as its HOME; it must succeed.
    fn git_in(home: &Path, repo: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .env("HOME", home)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn nothing_of_the_repositorys_own_config_runs() {
        let home = tempfile::tempdir().unwrap();
        let repo = home.path().join("work");
        let ran = home.path().join("ran");
        let git = |args: &[&str]| git_in(home.path(), &repo, args);
        std::fs::create_dir(&repo).unwrap();
        git(&["init", "-q"]);
        let touch = format!("touch {}", ran.display());
        git(&["config", "core.fsmonitor", &touch]);
        git(&["config", "filter.evil.clean", &touch]);
        std::fs::write(repo.join(".gitattributes"), "* filter=evil\n").unwrap();
        std::fs::write(repo.join("a"), b"a").unwrap();
        let s = repo_state(&repo).unwrap();
        assert!(s.uncommitted_count >= 2, "{s:?}");
        assert!(!ran.exists(), "the repository's fsmonitor or filter ran");
    }

    #[test]
    fn a_repository_reports_uncommitted_files_and_commits_not_on_the_town_remote() {
        let home = tempfile::tempdir().unwrap();
        let repo = home.path().join("work");
        let git = |args: &[&str]| git_in(home.path(), &repo, args);
        std::fs::create_dir(&repo).unwrap();
        git(&["init", "-q"]);
        std::fs::write(repo.join("a"), b"a").unwrap();
        git(&["add", "a"]);
        git(&[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-qm",
            "not pushed",
        ]);
        std::fs::write(repo.join("loose.txt"), b"b").unwrap();
        let s = repo_state(&home.path().join("work")).unwrap();
        assert_eq!((s.uncommitted_count, s.unpushed_count), (1, 1), "{s:?}");
        assert!(
            s.uncommitted[0].contains("loose.txt") && s.unpushed[0].ends_with("not pushed"),
            "{s:?}"
        );
    }

    #[test]
    fn each_worktree_counts_in_a_retired_home_by_its_own_repository() {
        let top = tempfile::tempdir().unwrap();
        let live = top.path().join("live");
        let repo = live.join("work");
        let git = |dir: &Path, args: &[&str]| git_in(&live, dir, args);
        std::fs::create_dir_all(&repo).unwrap();
        let commit = |dir: &Path, message: &str| {
            let who = ["-c", "user.name=a", "-c", "user.email=a@b", "-c"];
            let what = [
                "commit.gpgsign=false",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
            ];
            git(dir, &[&who[..], &what[..], &[message]].concat());
        };
        git(&repo, &["init", "-q"]);
        commit(&repo, "base");
        let wt = live.join(".worktrees/fix");
        let at = wt.to_str().unwrap();
        git(&repo, &["worktree", "add", "-q", "-b", "ada/conv-fix", at]);
        commit(&wt, "on fix");
        std::fs::write(wt.join("loose"), "x").unwrap();
        // The home retired: a copy elsewhere, and the live one's repository begun afresh.
        let retired = top.path().join("retired");
        let copied = std::process::Command::new("cp")
            .args(["-a"])
            .arg(&live)
            .arg(&retired)
            .status()
            .unwrap();
        assert!(copied.success());
        std::fs::remove_dir_all(repo.join(".git/worktrees")).unwrap();
        let r = crate::testing::demo_town()
            .resident("ada")
            .cloned()
            .unwrap();
        let lost = examine(&r, &retired, &live);
        let fix = lost
            .repos
            .iter()
            .find(|s| s.path == ".worktrees/fix")
            .unwrap_or_else(|| panic!("{lost:?}"));
        // Its own commit only: "base" is the main checkout's, counted there.
        assert_eq!(
            (fix.uncommitted_count, fix.unpushed_count),
            (1, 1),
            "{fix:?}"
        );
        assert!(fix.uncommitted[0].ends_with("loose"), "{fix:?}");
    }
}
