//! Unix accounts: looked up through NSS (`nix::unistd::User`), created with `useradd`.

use std::path::PathBuf;
use std::process::Command;

use nix::unistd::{Uid, User};

use crate::os::{OsContext, OsError};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub shell: PathBuf,
}

pub trait Accounts {
    fn by_name(&self, name: &str) -> Result<Option<Account>, OsError>;
    fn by_uid(&self, uid: u32) -> Result<Option<Account>, OsError>;
    /// Create the user and its group (gid = uid). Only called for accounts that are missing.
    fn create(&self, account: &Account) -> Result<(), OsError>;
}

fn from_user(u: User) -> Account {
    Account {
        name: u.name,
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        home: u.dir,
        shell: u.shell,
    }
}

/// The host's accounts.
#[derive(Debug, Default)]
pub struct SystemAccounts;

impl Accounts for SystemAccounts {
    fn by_name(&self, name: &str) -> Result<Option<Account>, OsError> {
        User::from_name(name)
            .map(|u| u.map(from_user))
            .os(|| format!("looking up user {name}"))
    }

    fn by_uid(&self, uid: u32) -> Result<Option<Account>, OsError> {
        User::from_uid(Uid::from_raw(uid))
            .map(|u| u.map(from_user))
            .os(|| format!("looking up uid {uid}"))
    }

    fn create(&self, a: &Account) -> Result<(), OsError> {
        let action = || format!("creating user {} (uid {})", a.name, a.uid);
        let id = a.uid.to_string();
        // The group first, so the user's primary gid equals its uid on every distro.
        run(Command::new("groupadd").args(["--gid", &id, &a.name])).os(action)?;
        let mut useradd = Command::new("useradd");
        useradd
            .args(["--uid", &id, "--gid", &id, "--no-create-home", "--shell"])
            .arg(&a.shell)
            .arg("--home-dir")
            .arg(&a.home)
            .arg(&a.name);
        run(&mut useradd).os(action)
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::FakeAccounts;
