//! What a reset would lose, or lost, per resident: each workspace repository's
//! uncommitted changes and commits the town remote has not got, and the files outside the
//! persisted paths (how many, how big, the largest). All of it is the resident's, so
//! hostile. It is read by `townhall losses`, run in a unit of its own in the resident's
//! slice (with a time and memory limit): PID 1 binds the home read-only into the unit, and
//! the helper becomes the resident (no longer dumpable, so none of the resident's processes
//! can reach into it) before it looks. git's data is read with libgit2, which runs nothing
//! of the repository's own config (no hooks, filters or fsmonitor); the walk never follows
//! a symlink and stops at a bound. The same helper reads a live home before an interactive
//! reset, and a retired round's after a confirmed one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Resident, Town};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Losses {
    pub resident: String,
    pub repos: Vec<RepoState>,
    pub files: Outside,
    /// What could not be looked at, and why.
    pub notes: Vec<String>,
}

/// A repository in the workspace. `persisted` ones keep their files; their unpushed
/// commits are still not where the mayor can fetch them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RepoState {
    /// Relative to the home.
    pub path: String,
    pub persisted: bool,
    /// `git status --porcelain` lines (the first few) and how many in all.
    pub uncommitted: Vec<String>,
    pub uncommitted_count: usize,
    /// `git log --oneline` of commits on no `town` remote-tracking branch.
    pub unpushed: Vec<String>,
    pub unpushed_count: usize,
}

/// Regular files in the home outside persisted paths (and outside what every round
/// writes afresh: secrets, the gitconfig).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outside {
    pub count: u64,
    pub bytes: u64,
    /// The largest, relative to the home, with their sizes.
    pub largest: Vec<(String, u64)>,
    /// The walk stopped at its bound: there is more.
    pub partial: bool,
}

const SHOWN: usize = 5;
const WALK_MAX: u64 = 100_000;
const REPOS_MAX: usize = 50;
/// Where the home is bound in the helper's unit.
pub const BOUND_HOME: &str = "/run/townhall-losses";
/// How long the helper may take, and its output at most.
const WITHIN: Duration = Duration::from_secs(60);

/// What `r` would lose if its live home were levelled now (before an interactive reset).
pub fn losses(town: &Town, r: &Resident) -> Losses {
    losses_in(town, r, &town.home(r))
}

/// What the home at `home` (live, or in a retired round) holds that a reset loses, read by
/// the helper as `r` in a unit of its own. What could not be read is a note.
pub fn losses_in(town: &Town, r: &Resident, home: &Path) -> Losses {
    let failed = |why: String| Losses {
        resident: r.name.clone(),
        notes: vec![format!("{}: {why}", home.display())],
        ..Default::default()
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return failed(format!("finding the townhall binary: {e}")),
    };
    let properties = [
        format!("BindReadOnlyPaths={}:{BOUND_HOME}", home.display()),
        format!("RuntimeMaxSec={}", WITHIN.as_secs()),
        "MemoryMax=512M".into(),
        "TasksMax=16".into(),
        "CapabilityBoundingSet=CAP_SETUID CAP_SETGID".into(),
        "NoNewPrivileges=yes".into(),
        "PrivateNetwork=yes".into(),
        "PrivateTmp=yes".into(),
        "ProtectSystem=strict".into(),
        "ProtectHome=yes".into(),
    ];
    let mut cmd = crate::units::helper::transient(
        &crate::units::helper::unit_name(&format!("townhall-losses-{}", r.name)),
        &format!("user-{}.slice", r.uid),
        &format!("townhall: what a reset loses of {}", r.name),
        &properties,
    );
    cmd.args([
        "--setenv=HOME=/nonexistent",
        "--setenv=GIT_CONFIG_NOSYSTEM=1",
        "--",
    ])
    .arg(exe);
    cmd.arg("--config")
        .arg(&town.dir)
        .args(["losses", "--resident", &r.name]);
    cmd.stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    match crate::os::output_within(&mut cmd, WITHIN + Duration::from_secs(10)) {
        Ok(out) => serde_json::from_slice(&out)
            .unwrap_or_else(|e| failed(format!("the helper's answer is unreadable ({e})"))),
        Err(e) => failed(format!("not looked at: {e}")),
    }
}

/// Become `uid` for good, as the helper must before it reads anything of the resident's:
/// a changed uid also makes this process non-dumpable, so the resident cannot reach into
/// it (its /proc entries, its mount namespace with the home bound in).
pub fn become_resident(uid: u32) -> std::io::Result<()> {
    let id = uid as libc::c_long;
    // SAFETY: plain syscalls with integer arguments.
    let r = unsafe {
        libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) == 0
            && libc::syscall(libc::SYS_setresgid, id, id, id) == 0
            && libc::syscall(libc::SYS_setresuid, id, id, id) == 0
            && libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    };
    if r {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Read what `r` loses from its home at `home` (inside the helper, as the resident).
pub fn examine(r: &Resident, home: &Path) -> Losses {
    let kept: Vec<PathBuf> = r
        .persist
        .directories
        .iter()
        .chain(&r.persist.files)
        .cloned()
        .collect();
    let persisted = |rel: &Path| kept.iter().any(|k| rel.starts_with(k));
    let mut out = Losses {
        resident: r.name.clone(),
        ..Default::default()
    };
    let workspace = &r.agent.workspace;
    let mut repos = vec![workspace.clone()];
    if let Ok(entries) = std::fs::read_dir(home.join(workspace)) {
        let mut subs: Vec<PathBuf> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| workspace.join(e.file_name()))
            .collect();
        subs.sort();
        repos.extend(subs.into_iter().take(REPOS_MAX));
    }
    for rel in repos
        .into_iter()
        .filter(|rel| home.join(rel).join(".git").symlink_metadata().is_ok())
    {
        match repo_state(&home.join(&rel)) {
            Ok(mut s) => {
                s.path = rel.display().to_string();
                s.persisted = persisted(&rel);
                if s.uncommitted_count + s.unpushed_count > 0 {
                    out.repos.push(s);
                }
            }
            Err(e) => out.notes.push(format!("{}: {e}", rel.display())),
        }
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
    /// Plain lines for the mayor, in chat and at the terminal alike.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.repos {
            let mut parts = Vec::new();
            if r.uncommitted_count > 0 {
                parts.push(format!(
                    "{} uncommitted change(s): {}",
                    r.uncommitted_count,
                    r.uncommitted.join(", ")
                ));
            }
            if r.unpushed_count > 0 {
                parts.push(format!(
                    "{} commit(s) not on the town remote: {}",
                    r.unpushed_count,
                    r.unpushed.join(", ")
                ));
            }
            let kept = if r.persisted {
                " (persisted: the files stay, the commits stay unfetchable)"
            } else {
                ""
            };
            out.push(format!("{}: {}{kept}", r.path, parts.join("; ")));
        }
        let f = &self.files;
        if f.count > 0 {
            let largest: Vec<String> = f
                .largest
                .iter()
                .map(|(p, n)| format!("{p} ({})", crate::os::size(*n)))
                .collect();
            let more = if f.partial {
                " (at least: the count stopped)"
            } else {
                ""
            };
            out.push(format!(
                "{} file(s), {}, outside the persisted paths{more}; largest: {}",
                f.count,
                crate::os::size(f.bytes),
                largest.join(", ")
            ));
        }
        out.extend(self.notes.iter().map(|n| format!("not looked at: {n}")));
        out
    }
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

/// A repository's uncommitted files and the commits of its branches that no `town`
/// remote-tracking branch has, read with libgit2 (nothing of the repository's config runs).
fn repo_state(dir: &Path) -> Result<RepoState, String> {
    let repo = git2::Repository::open_ext(
        dir,
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&std::ffi::OsStr>(),
    )
    .map_err(|e| e.message().to_string())?;
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
    if walk.push_glob("refs/heads/*").is_ok() && walk.hide_glob("refs/remotes/town/*").is_ok() {
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
}
