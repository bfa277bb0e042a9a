//! Git for residents: identity now; signing keys held by the supervisor later.

use std::path::Path;

use crate::os::{OsContext, OsError, Recorder};

pub trait Git {
    /// Write `user.name` / `user.email` into the git config file at `path`.
    fn write_identity(&self, path: &Path, name: &str, email: &str) -> Result<(), OsError>;
}

/// libgit2's config writer: the same file format stock git reads.
#[derive(Debug, Default)]
pub struct Git2;

impl Git for Git2 {
    fn write_identity(&self, path: &Path, name: &str, email: &str) -> Result<(), OsError> {
        let what = || format!("writing the git identity to {}", path.display());
        let mut cfg = git2::Config::open(path).os(what)?;
        cfg.set_str("user.name", name).os(what)?;
        cfg.set_str("user.email", email).os(what)
    }
}

#[derive(Debug, Default)]
pub struct FakeGit {
    pub calls: Recorder,
}

impl Git for FakeGit {
    fn write_identity(&self, path: &Path, name: &str, email: &str) -> Result<(), OsError> {
        self.calls.record(format!("identity {} {name} <{email}>", path.display()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_readable_by_git2() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gitconfig");
        Git2.write_identity(&path, "Ada", "ada@town.test").unwrap();
        let cfg = git2::Config::open(&path).unwrap();
        assert_eq!(cfg.get_string("user.email").unwrap(), "ada@town.test");
    }
}
