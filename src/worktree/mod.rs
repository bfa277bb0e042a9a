//! A worktree per conversation: when a conversation's first turn of a round starts in a
//! workspace that is a git repository's top, the conversation gets a worktree and a branch
//! of its own (`NAME/conv-SLUG` at `~/.worktrees/SLUG`), so two conversations of one
//! resident run at once and never touch each other's files. Git runs as the resident, in
//! a unit of its own in its slice (never as root on its tree); root keeps only which
//! conversation has which worktree, per round, in its state dir.

#[cfg(test)]
mod fake;
mod host;
mod kept;
mod slug;

use std::path::Path;

#[cfg(test)]
pub use fake::FakeWorktrees;
pub use host::HostWorktrees;
pub use kept::Kept;
pub use slug::{slug, taken};

use crate::config::Resident;
use crate::os::OsError;

/// Where a resident's worktrees are, relative to its home.
pub const DIR: &str = ".worktrees";

/// What came of asking for a conversation's worktree.
#[derive(Debug, Clone, PartialEq)]
pub enum Opened {
    /// The workspace is not a repository's top: the turn runs there, as ever.
    NotARepo,
    /// The repository has no commit yet to branch from: the turn runs in the workspace.
    NoCommit,
    /// A worktree at `~/.worktrees/SLUG` on the new branch `NAME/conv-SLUG`.
    Made { slug: String },
}

/// The names a conversation's worktree may take: `base`, else `base-N` for the first free
/// N up to `slug::TRIES`, else `last` (the base and a mark of the conversation's own); never
/// one of `others`, the names other conversations of the round have.
#[derive(Debug, Clone, PartialEq)]
pub struct Names {
    pub base: String,
    pub last: String,
    pub others: Vec<String>,
}

pub trait Worktrees {
    /// As the resident: a new worktree of its workspace's repository at
    /// `~/.worktrees/SLUG` on a new branch `NAME/conv-SLUG`, SLUG the first free of `names`.
    fn open(&self, r: &Resident, home: &Path, names: &Names) -> Result<Opened, OsError>;
    /// As the resident: how many uncommitted changes each worktree `slugs` names has; None
    /// for one that could not be read.
    fn dirty(&self, r: &Resident, home: &Path, slugs: &[String]) -> Vec<Option<u64>>;
    /// As the resident: its workspace's repository forgets the worktrees no longer there
    /// (a reset took the old home's; the repository persisted).
    fn prune(&self, r: &Resident, home: &Path) -> Result<(), OsError>;
}

/// The branch of a conversation's worktree.
pub fn branch(resident: &str, slug: &str) -> String {
    format!("{resident}/conv-{slug}")
}
