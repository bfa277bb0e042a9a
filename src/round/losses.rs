//! What a reset would lose, per resident, for the mayor to read before confirming: each
//! workspace repository's uncommitted changes and commits the town remote has not got,
//! and the files outside the persisted paths (how many, how big, the largest). All of it
//! is the resident's, so hostile: git runs as the resident with a deadline and a bounded
//! output, and the walk never follows a symlink and stops at a bound.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
const GIT_DEADLINE: Duration = Duration::from_secs(5);
const GIT_OUTPUT_MAX: u64 = 1 << 20;

pub fn losses(town: &Town, r: &Resident) -> Losses {
    let home = town.home(r);
    let kept: Vec<PathBuf> = r.persist.directories.iter().chain(&r.persist.files).cloned().collect();
    let persisted = |rel: &Path| kept.iter().any(|k| rel.starts_with(k));
    let mut out = Losses { resident: r.name.clone(), ..Default::default() };
    let workspace = &r.agent.workspace;
    let mut repos = vec![workspace.clone()];
    if let Ok(entries) = std::fs::read_dir(home.join(workspace)) {
        let mut subs: Vec<PathBuf> = entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| workspace.join(e.file_name())).collect();
        subs.sort();
        repos.extend(subs.into_iter().take(50));
    }
    for rel in repos.into_iter().filter(|rel| home.join(rel).join(".git").symlink_metadata().is_ok()) {
        match repo_state(r.uid, &home, &rel) {
            Ok(mut s) => {
                s.persisted = persisted(&rel);
                if s.uncommitted_count + s.unpushed_count > 0 {
                    out.repos.push(s);
                }
            }
            Err(e) => out.notes.push(format!("{}: {e}", rel.display())),
        }
    }
    let mut skip: Vec<PathBuf> = r.secrets.iter().map(|s| s.target.clone()).collect();
    skip.push(PathBuf::from(".gitconfig"));
    out.files = outside(&home, &|rel: &Path| persisted(rel) || skip.iter().any(|s| s == rel));
    out
}

impl Losses {
    /// Plain lines for the mayor, in chat and at the terminal alike.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.repos {
            let mut parts = Vec::new();
            if r.uncommitted_count > 0 {
                parts.push(format!("{} uncommitted change(s): {}", r.uncommitted_count, r.uncommitted.join(", ")));
            }
            if r.unpushed_count > 0 {
                parts.push(format!("{} commit(s) not on the town remote: {}", r.unpushed_count, r.unpushed.join(", ")));
            }
            let kept = if r.persisted { " (persisted: the files stay, the commits stay unfetchable)" } else { "" };
            out.push(format!("{}: {}{kept}", r.path, parts.join("; ")));
        }
        let f = &self.files;
        if f.count > 0 {
            let largest: Vec<String> = f.largest.iter().map(|(p, n)| format!("{p} ({})", crate::os::size(*n))).collect();
            let more = if f.partial { " (at least: the count stopped)" } else { "" };
            out.push(format!("{} file(s), {}, outside the persisted paths{more}; largest: {}", f.count, crate::os::size(f.bytes), largest.join(", ")));
        }
        out.extend(self.notes.iter().map(|n| format!("not looked at: {n}")));
        out
    }
}

fn repo_state(uid: u32, home: &Path, rel: &Path) -> Result<RepoState, String> {
    let dir = home.join(rel).display().to_string();
    // No fsmonitor or pager: nothing of the repository's own config runs.
    let git = |args: &[&str]| {
        let mut all = vec!["-c", "core.fsmonitor=", "-c", "core.pager=cat", "-C", dir.as_str()];
        all.extend_from_slice(args);
        git_as(uid, home, &all)
    };
    let status = git(&["status", "--porcelain", "--untracked-files=all"])?;
    let log = git(&["log", "--oneline", "--branches", "--not", "--remotes=town", "--"])?;
    let (status, log): (Vec<&str>, Vec<&str>) = (status.lines().collect(), log.lines().collect());
    Ok(RepoState {
        path: rel.display().to_string(),
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

/// Stock git as the resident: stdout up to a bound, killed at the deadline.
fn git_as(uid: u32, home: &Path, args: &[&str]) -> Result<String, String> {
    let mut child = crate::git::as_user(uid, uid, home)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("git did not start: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.take(GIT_OUTPUT_MAX).read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + GIT_DEADLINE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("git did not answer within {} s", GIT_DEADLINE.as_secs()));
            }
        }
    };
    let text = reader.join().unwrap_or_default();
    if status.success() { Ok(text) } else { Err(format!("git {} failed ({status})", args.iter().rev().take(4).rev().cloned().collect::<Vec<_>>().join(" "))) }
}

/// Regular files under `home`, not descending into symlinks or what `kept` says stays.
fn outside(home: &Path, kept: &dyn Fn(&Path) -> bool) -> Outside {
    let mut out = Outside::default();
    let mut stack = vec![PathBuf::new()];
    let mut seen = 0u64;
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(home.join(&rel)) else { continue };
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
            let Ok(meta) = e.path().symlink_metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.count += 1;
                out.bytes = out.bytes.saturating_add(meta.len());
                out.largest.push((path.display().to_string(), meta.len()));
                out.largest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
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

    #[test]
    fn a_repository_reports_uncommitted_files_and_commits_not_on_the_town_remote() {
        let home = tempfile::tempdir().unwrap();
        let repo = home.path().join("work");
        let git = |args: &[&str]| assert!(std::process::Command::new("git").arg("-C").arg(&repo).args(args).env("HOME", home.path()).status().unwrap().success());
        std::fs::create_dir(&repo).unwrap();
        git(&["init", "-q"]);
        std::fs::write(repo.join("a"), b"a").unwrap();
        git(&["add", "a"]);
        git(&["-c", "user.name=a", "-c", "user.email=a@b", "-c", "commit.gpgsign=false", "commit", "-qm", "not pushed"]);
        std::fs::write(repo.join("loose.txt"), b"b").unwrap();
        let s = repo_state(0, home.path(), Path::new("work")).unwrap();
        assert_eq!((s.uncommitted_count, s.unpushed_count), (1, 1), "{s:?}");
        assert!(s.uncommitted[0].contains("loose.txt") && s.unpushed[0].ends_with("not pushed"), "{s:?}");
    }
}
