//! Levelling: ending a resident's whole presence before its home is rebuilt. Every process
//! of its uid (the user manager with its units, timers and environment included), its IPC
//! objects and keyrings, and every file it owns in the shared writable places.

mod confine;
mod host;
mod journal;
mod settings;
mod shared;
mod sweep;

use std::path::{Path, PathBuf};

pub use confine::{dropin, dropin_path, unenforced, write_dropins};
pub use host::{HostPresence, reload_pid1, reload_units, restart_timers};
#[cfg(test)]
pub use settings::FakeHost;
pub use settings::{Finding, Host, ThisHost, check_host};
pub use shared::{dirs as shared_dirs, refresh as refresh_shared_dirs};
pub use sweep::{remove_tree_at, sweep_owned};

use crate::os::OsError;

/// A process that outlived SIGKILL (say, stuck in D state): reported, never skipped silently.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Survivor {
    pub pid: u32,
    /// The `State:` line of /proc/PID/status, e.g. "D (disk sleep)".
    pub state: String,
    pub command: String,
}

/// What levelling one resident did and what it could not do.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LevelReport {
    /// Processes of the uid found before the kill.
    pub processes: u32,
    pub survivors: Vec<Survivor>,
    pub ipc_removed: u32,
    pub files_removed: u64,
    /// Steps that failed; the others still ran.
    pub problems: Vec<String>,
}

impl LevelReport {
    /// Nothing of the resident is known to be left.
    pub fn clean(&self) -> bool {
        self.survivors.is_empty() && self.problems.is_empty()
    }
}

/// The OS side of levelling; one small trait so the order and the reporting are tested
/// with a fake.
pub trait Presence {
    /// Through logind and PID 1: no linger, sessions terminated, `user@UID.service` and
    /// `user-UID.slice` stopped. Best effort: at boot the buses may not be up yet.
    fn end_sessions(&self, uid: u32) -> Result<(), OsError>;
    /// Processes of the uid right now.
    fn count(&self, uid: u32) -> Result<u32, OsError>;
    /// SIGKILL every process of the uid until none is left; those that stay are returned.
    fn kill_all(&self, uid: u32) -> Result<Vec<Survivor>, OsError>;
    /// SysV shared memory, message queues and semaphores the uid owns or created.
    fn remove_ipc(&self, uid: u32) -> Result<u32, OsError>;
    /// The uid's user, user-session and persistent keyrings.
    fn clear_keyrings(&self, uid: u32) -> Result<(), OsError>;
    /// The uid's own journal files (which it may read); how many were removed.
    fn clear_journal(&self, uid: u32) -> Result<u32, OsError>;
    /// Remove everything the uid owns under `dir`, never following a symlink or leaving
    /// the filesystem of `dir`. A missing `dir` is nothing to do.
    fn sweep(&self, uid: u32, dir: &Path) -> Result<u64, OsError>;
    /// Make PID 1 hold each resident's manager to its limits without new privileges (the
    /// drop-ins of `confine`), reloading PID 1 when one changed.
    fn confine(&self, residents: &[(u32, crate::config::Limits)]) -> Result<(), OsError>;
}

/// Where `uid`'s files are swept: the town's shared places (`shared_dirs`: every
/// world-writable directory of the host, and the cron and at spools) and its runtime dir.
pub fn swept_dirs(shared: &[PathBuf], uid: u32) -> Vec<PathBuf> {
    shared
        .iter()
        .cloned()
        .chain([PathBuf::from(format!("/run/user/{uid}"))])
        .collect()
}

/// End everything of `uid`, in an order where nothing can come back: no linger and no
/// manager first, then the processes, then what they leave (IPC, keys, files in `shared`).
pub fn level(presence: &impl Presence, uid: u32, shared: &[PathBuf]) -> LevelReport {
    let mut r = LevelReport::default();
    let problem = |e: OsError, r: &mut LevelReport| r.problems.push(e.to_string());
    match presence.count(uid) {
        Ok(n) => r.processes = n,
        Err(e) => problem(e, &mut r),
    }
    if let Err(e) = presence.end_sessions(uid) {
        problem(e, &mut r);
    }
    match presence.kill_all(uid) {
        Ok(s) => r.survivors = s,
        Err(e) => problem(e, &mut r),
    }
    match presence.remove_ipc(uid) {
        Ok(n) => r.ipc_removed = n,
        Err(e) => problem(e, &mut r),
    }
    if let Err(e) = presence.clear_keyrings(uid) {
        problem(e, &mut r);
    }
    match presence.clear_journal(uid) {
        Ok(n) => r.files_removed += u64::from(n),
        Err(e) => problem(e, &mut r),
    }
    for dir in swept_dirs(shared, uid) {
        match presence.sweep(uid, &dir) {
            Ok(n) => r.files_removed += n,
            Err(e) => problem(e, &mut r),
        }
    }
    r
}

#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::FakePresence;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_ends_before_the_processes_and_the_files_after() {
        let p = FakePresence::default();
        let shared: Vec<PathBuf> = ["/tmp", "/dev/mqueue", "/run/lock"]
            .map(PathBuf::from)
            .to_vec();
        let r = level(&p, 1100, &shared);
        let calls = p.calls.calls();
        let pos = |c: &str| calls.iter().position(|x| x.starts_with(c)).unwrap();
        assert!(pos("end_sessions") < pos("kill_all"));
        assert!(pos("kill_all") < pos("remove_ipc") && pos("kill_all") < pos("sweep"));
        assert!(
            pos("kill_all") < pos("clear_journal"),
            "her processes could log again after"
        );
        assert!(calls.contains(&"sweep 1100 /run/user/1100".to_string()));
        assert!(calls.contains(&"sweep 1100 /dev/mqueue".to_string()));
        assert!(r.clean());
        assert!(calls.contains(&"sweep 1100 /run/lock".to_string()));
        assert_eq!((r.processes, r.ipc_removed, r.files_removed), (3, 1, 4));
    }

    #[test]
    fn a_failing_step_is_reported_and_the_others_still_run() {
        let p = FakePresence::default();
        p.fail.lock().unwrap().push("end_sessions");
        p.survivors.lock().unwrap().push(Survivor {
            pid: 42,
            state: "D (disk sleep)".into(),
            command: "sleep".into(),
        });
        let r = level(&p, 1100, &[PathBuf::from("/tmp")]);
        assert!(!r.clean());
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert_eq!(r.survivors[0].pid, 42);
        assert!(
            p.calls.calls().iter().any(|c| c.starts_with("sweep")),
            "sweeping was skipped"
        );
    }
}
