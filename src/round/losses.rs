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

mod examine;
mod helper;

use serde::{Deserialize, Serialize};

pub use examine::examine;
pub use helper::{BOUND_HOME, become_resident, losses, losses_in};

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
