//! Git for residents: identity now; signing keys held by the supervisor later.

use crate::os::{OsContext, OsError, Recorder};

pub trait Git {
    /// The text of a git config file setting `user.name` / `user.email`. It is rendered,
    /// not written: homes are written by the round without following symlinks.
    fn identity(&self, name: &str, email: &str) -> Result<Vec<u8>, OsError>;
}

/// libgit2's config writer: the same file format (and quoting) stock git reads.
#[derive(Debug, Default)]
pub struct Git2;

impl Git for Git2 {
    fn identity(&self, name: &str, email: &str) -> Result<Vec<u8>, OsError> {
        let what = || format!("rendering the git identity {name} <{email}>");
        let dir = tempfile::tempdir().os(what)?;
        let path = dir.path().join("gitconfig");
        let mut cfg = git2::Config::open(&path).os(what)?;
        cfg.set_str("user.name", name).os(what)?;
        cfg.set_str("user.email", email).os(what)?;
        std::fs::read(&path).os(what)
    }
}

#[derive(Debug, Default)]
pub struct FakeGit {
    pub calls: Recorder,
}

impl Git for FakeGit {
    fn identity(&self, name: &str, email: &str) -> Result<Vec<u8>, OsError> {
        self.calls.record(format!("identity {name} <{email}>"));
        Ok(format!("[user]\n\tname = {name}\n\temail = {email}\n").into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_readable_by_git2() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gitconfig");
        std::fs::write(&path, Git2.identity("Ada \"the\" Agent", "ada@town.test").unwrap()).unwrap();
        let cfg = git2::Config::open(&path).unwrap();
        assert_eq!(cfg.get_string("user.name").unwrap(), "Ada \"the\" Agent");
        assert_eq!(cfg.get_string("user.email").unwrap(), "ada@town.test");
    }
}
