//! The town remote as a seam: preparing its repositories and a resident's workspace after
//! each reset, and a push's receive-pack and the refs it changed, act on the host
//! (`HostRemote`); the fake records them, so the reset's last step and the push pipe's
//! decisions are tested without a git user or repositories.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;

use super::receive::Running;
use crate::config::{Resident, Town};
use crate::hall::Notice;
use crate::os::OsError;

/// Each ref of a repository a pusher may write, with the commit it names.
pub type Refs = BTreeMap<String, String>;

pub trait TownRemote {
    /// Its user and each declared repository (idempotent); what was done, one line each.
    fn prepare(&self, town: &Town) -> Result<Vec<String>, OsError>;
    /// A resident's workspace repositories with the remote `town`; problems, one line each.
    fn set_up_workspace(&self, town: &Town, r: &Resident) -> Vec<String>;
    /// The refs `pusher` may write in `repo`.
    fn refs(&self, repo: &str, pusher: &str) -> Refs;
    /// Stock receive-pack for `pusher` on `repo`, on the pusher's stdin, stdout and
    /// stderr; its exit code.
    fn receive_pack(
        &self,
        town: &Town,
        pusher: &str,
        repo: &str,
        running: &Running,
        fds: [OwnedFd; 3],
    ) -> std::io::Result<u8>;
    /// What the rooms are told of a push that moved `before` to `after`.
    fn push_notices(&self, repo: &str, pusher: &str, before: &Refs, after: &Refs) -> Vec<Notice>;
}

/// The remote on this host: `townhall-git`'s bare repositories, workspaces set up as the
/// resident.
pub struct HostRemote;

impl TownRemote for HostRemote {
    fn prepare(&self, town: &Town) -> Result<Vec<String>, OsError> {
        super::prepare(town)
    }
    fn set_up_workspace(&self, town: &Town, r: &Resident) -> Vec<String> {
        super::set_up_workspace(town, r)
    }
    fn refs(&self, repo: &str, pusher: &str) -> Refs {
        super::refs_of(repo, pusher)
    }
    fn receive_pack(
        &self,
        town: &Town,
        pusher: &str,
        repo: &str,
        running: &Running,
        fds: [OwnedFd; 3],
    ) -> std::io::Result<u8> {
        super::receive::receive_pack(town, pusher, repo, running, fds)
    }
    fn push_notices(&self, repo: &str, pusher: &str, before: &Refs, after: &Refs) -> Vec<Notice> {
        super::push_notices(repo, pusher, before, after)
    }
}

/// After a reset: the remote's repositories exist, and each resident's workspace has its
/// repositories with the remote `town`. Problems are returned, one line each.
pub fn after_reset(town: &Town, only: &[String], remote: &impl TownRemote) -> Vec<String> {
    let mut problems = match remote.prepare(town) {
        Ok(_) => Vec::new(),
        Err(e) => vec![e.to_string()],
    };
    let reset = town
        .residents
        .iter()
        .filter(|r| only.is_empty() || only.contains(&r.name));
    for r in reset {
        problems.extend(remote.set_up_workspace(town, r));
    }
    problems
}

/// The recording fake (FakeRemote), compiled for tests only: `refs` hands out the
/// prepared refs in turn (none once they run out), receive-pack exits with `code`.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct FakeRemote {
    pub calls: crate::os::Recorder,
    /// Makes `prepare` fail.
    pub fail: bool,
    pub refs: std::sync::Mutex<std::collections::VecDeque<Refs>>,
    pub code: u8,
}

#[cfg(test)]
impl TownRemote for FakeRemote {
    fn prepare(&self, _: &Town) -> Result<Vec<String>, OsError> {
        self.calls.record("prepare");
        if self.fail {
            return Err(OsError::new("preparing the town remote", "told to fail"));
        }
        Ok(vec![])
    }
    fn set_up_workspace(&self, _: &Town, r: &Resident) -> Vec<String> {
        self.calls.record(format!("set up {}", r.name));
        vec![]
    }
    fn refs(&self, repo: &str, pusher: &str) -> Refs {
        self.calls.record(format!("refs {repo} {pusher}"));
        self.refs
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or_default()
    }
    fn receive_pack(
        &self,
        _: &Town,
        pusher: &str,
        repo: &str,
        _: &Running,
        _: [OwnedFd; 3],
    ) -> std::io::Result<u8> {
        self.calls.record(format!("receive-pack {repo} {pusher}"));
        Ok(self.code)
    }
    fn push_notices(&self, repo: &str, pusher: &str, before: &Refs, after: &Refs) -> Vec<Notice> {
        self.calls.record(format!("notices {repo} {pusher}"));
        let changed = after.iter().filter(|(r, c)| before.get(*r) != Some(c));
        changed
            .map(|(refname, commit)| Notice::Pushed {
                pusher: pusher.into(),
                repo: repo.into(),
                path: String::new(),
                refname: refname.clone(),
                commits: commit.clone(),
                stat: String::new(),
            })
            .collect()
    }
}
