//! The user-manager seam and its recording fake (the zbus implementation is in systemd.rs).

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

use crate::os::OsError;

/// A transient service that runs one turn in a resident's user manager.
#[derive(Debug)]
pub struct TurnUnit {
    /// e.g. `townhall-turn-42.service`
    pub name: String,
    pub description: String,
    pub argv: Vec<String>,
    pub workdir: PathBuf,
    /// `KEY=value` pairs.
    pub environment: Vec<String>,
    pub environment_files: Vec<PathBuf>,
    /// Pipe ends for the unit's stdin/stdout/stderr; without one, the journal gets it.
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub runtime_max: Duration,
    pub memory_max: Option<u64>,
    pub cpu_percent: Option<u32>,
    pub tasks_max: Option<u64>,
    /// Told once the unit runs what townhall asked for (no drop-in of the resident's applies);
    /// the turn's output is read only after that.
    pub verified: Option<tokio::sync::oneshot::Sender<()>>,
}

/// How a turn's unit ended, as its manager reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnitEnd {
    /// systemd's `Result`: success, exit-code, signal, timeout, oom-kill, …
    pub result: String,
    /// The main process's exit status (or signal number when `result` is `signal`).
    pub status: i32,
}

pub trait UserManagers {
    /// Make the resident's user manager run without a login, and wait until it answers.
    fn linger(&self, uid: u32) -> impl Future<Output = Result<(), OsError>> + Send;
    /// Start the unit in the resident's manager and wait until it has ended.
    fn run(
        &self,
        uid: u32,
        unit: TurnUnit,
    ) -> impl Future<Output = Result<UnitEnd, OsError>> + Send;
    /// Stop one unit; when the resident's manager does not answer, end the manager.
    fn stop(&self, uid: u32, unit: &str) -> impl Future<Output = Result<(), OsError>> + Send;
    /// End the resident's user manager and everything running in it, through PID 1 (what
    /// `!stop` does after stopping the turns, so nothing a turn started outlives it).
    fn end_manager(&self, uid: u32) -> impl Future<Output = Result<(), OsError>> + Send;
    /// Stop the turn units an earlier daemon left running (all but those `ours` says this
    /// daemon runs, asked after listing them); returns their names.
    fn stop_strays(
        &self,
        uid: u32,
        ours: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> impl Future<Output = Result<Vec<String>, OsError>> + Send;
}

#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::{FakeRun, FakeUserManagers};
