//! Git for residents: the identity, and the config that makes stock `git commit` sign
//! through the resident's agent (the key stays with the supervisor).

use crate::os::{OsContext, OsError};

pub trait Git {
    /// The text of a git config file setting `user.name` / `user.email` and, with a public
    /// key (`ssh-ed25519 AAAA…`), SSH signing of every commit and tag through the agent at
    /// SSH_AUTH_SOCK. It is rendered, not written: homes are written by the round without
    /// following symlinks.
    fn identity(
        &self,
        name: &str,
        email: &str,
        signing_key: Option<&str>,
    ) -> Result<Vec<u8>, OsError>;
}

/// libgit2's config writer: the same file format (and quoting) stock git reads.
#[derive(Debug, Default)]
pub struct Git2;

impl Git for Git2 {
    fn identity(
        &self,
        name: &str,
        email: &str,
        signing_key: Option<&str>,
    ) -> Result<Vec<u8>, OsError> {
        let what = || format!("rendering the git identity {name} <{email}>");
        let dir = tempfile::tempdir().os(what)?;
        let path = dir.path().join("gitconfig");
        let mut cfg = git2::Config::open(&path).os(what)?;
        cfg.set_str("user.name", name).os(what)?;
        cfg.set_str("user.email", email).os(what)?;
        if let Some(key) = signing_key {
            cfg.set_str("gpg.format", "ssh").os(what)?;
            // `key::` + a literal public key: ssh-keygen asks the agent for the signature.
            cfg.set_str("user.signingkey", &format!("key::{key}"))
                .os(what)?;
            cfg.set_bool("commit.gpgsign", true).os(what)?;
            cfg.set_bool("tag.gpgsign", true).os(what)?;
            let signers = crate::sign::allowed_signers_path();
            cfg.set_str("gpg.ssh.allowedSignersFile", &signers.display().to_string())
                .os(what)?;
        }
        std::fs::read(&path).os(what)
    }
}

/// Stock git as `uid`/`gid` (supplementary groups dropped), with a clean environment and
/// `home` as HOME: git never runs as root on a tree someone else owns.
pub fn as_user(uid: u32, gid: u32, home: &std::path::Path) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new("git");
    c.env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .current_dir("/")
        .uid(uid)
        .gid(gid);
    c
}

#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::FakeGit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_readable_by_git2() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gitconfig");
        std::fs::write(
            &path,
            Git2.identity(
                "Ada \"the\" Agent",
                "ada@town.test",
                Some("ssh-ed25519 AAAAC3Nz"),
            )
            .unwrap(),
        )
        .unwrap();
        let cfg = git2::Config::open(&path).unwrap();
        assert_eq!(cfg.get_string("user.name").unwrap(), "Ada \"the\" Agent");
        assert_eq!(cfg.get_string("user.email").unwrap(), "ada@town.test");
        assert_eq!(
            cfg.get_string("user.signingkey").unwrap(),
            "key::ssh-ed25519 AAAAC3Nz"
        );
        assert!(cfg.get_bool("commit.gpgsign").unwrap() && cfg.get_bool("tag.gpgsign").unwrap());
        assert_eq!(cfg.get_string("gpg.format").unwrap(), "ssh");
    }
}
