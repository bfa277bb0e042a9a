//! The town remote as a seam: preparing its repositories and a resident's workspace after
//! each reset act on the host (`HostRemote`); the fake records them, so the reset's last
//! step is tested without a git user or repositories.

use crate::config::{Resident, Town};
use crate::os::OsError;

pub trait TownRemote {
    /// Its user and each declared repository (idempotent); what was done, one line each.
    fn prepare(&self, town: &Town) -> Result<Vec<String>, OsError>;
    /// A resident's workspace repositories with the remote `town`; problems, one line each.
    fn set_up_workspace(&self, town: &Town, r: &Resident) -> Vec<String>;
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
}

/// After a reset: the remote's repositories exist, and each resident's workspace has its
/// repositories with the remote `town`. Problems are returned, one line each.
pub fn after_reset(town: &Town, remote: &impl TownRemote) -> Vec<String> {
    let mut problems = match remote.prepare(town) {
        Ok(_) => Vec::new(),
        Err(e) => vec![e.to_string()],
    };
    for r in &town.residents {
        problems.extend(remote.set_up_workspace(town, r));
    }
    problems
}

/// The recording fake (FakeRemote), compiled for tests only.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct FakeRemote {
    pub calls: crate::os::Recorder,
    /// Makes `prepare` fail.
    pub fail: bool,
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
}
