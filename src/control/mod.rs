//! The root-only control socket between the `townhall` CLI and the running daemon.
//!
//! One JSON request per line, one JSON response per line. Only root may connect: the
//! socket lives in a 0700 root directory and the server also checks the peer's uid.

mod server;

use townhall_wire::lines;

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use server::{Handler, serve};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    Status,
    /// Stop every running turn (a reset is about to level the homes).
    StopTurns,
    /// Run a turn; answered by `Event`s as output arrives, then `TurnDone`.
    Turn {
        resident: String,
        conversation: String,
        prompt: String,
        fresh: bool,
    },
    /// Stop the running turns of one resident.
    Stop {
        resident: String,
    },
    /// Present devices that match a rule, and who holds them.
    Devices,
    /// Read the configuration again (also on SIGHUP).
    Reload,
    /// A reset outside the daemon began a round: tell the residents' rooms what it reported.
    RoundBegan,
    /// A schedule's timer came due (`townhall fire`): answered Done once its turn is
    /// taken (or skipped), before it runs.
    Fire {
        resident: String,
        id: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    Status(StatusReport),
    Stopped {
        turns: u32,
    },
    Event(crate::turn::TurnEvent),
    TurnDone(crate::turn::Outcome),
    Devices {
        devices: Vec<crate::grant::DeviceStatus>,
    },
    Reloaded {
        residents: u32,
    },
    Done,
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusReport {
    pub town: String,
    pub version: String,
    pub pid: u32,
    pub uptime_secs: u64,
    /// Rounds ended so far (the reset counter in the state dir).
    pub round: u64,
    pub residents: Vec<ResidentStatus>,
    #[serde(default)]
    pub turns: Vec<crate::turn::RunningTurn>,
    /// Host settings a town needs that are missing (`townhall check --host`).
    #[serde(default)]
    pub host: Vec<crate::level::Finding>,
    /// Old rounds renamed aside at a reset and not yet deleted.
    #[serde(default)]
    pub retired: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ResidentStatus {
    pub name: String,
    pub uid: u32,
    /// Whether a Unix account with the declared uid exists right now.
    pub account: bool,
    /// Limits declared for this resident that its user manager cannot enforce.
    #[serde(default)]
    pub unenforced: Vec<String>,
    /// The resident's Matrix bot: syncing, failing (why), or absent (why).
    #[serde(default)]
    pub chat: Option<String>,
    /// What the last reset could not do for this resident (home not built, entries
    /// quarantined, processes that outlived it).
    #[serde(default)]
    pub degraded: Vec<String>,
    /// What its turns spent this round (the CLIs' own reports).
    #[serde(default)]
    pub spent: crate::turn::Spent,
    /// Its own round: the town's plus the rounds it ended alone.
    #[serde(default)]
    pub round: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "the townhall daemon is not running (no one answers on {path})\n  help: start it with `systemctl start townhall`, or run `townhall serve`"
    )]
    DaemonDown { path: PathBuf },
    #[error(
        "only root may talk to the townhall daemon ({path}: permission denied)\n  help: run this as root, e.g. with sudo"
    )]
    NotRoot { path: PathBuf },
    #[error("talking to the townhall daemon on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the townhall daemon answered something this CLI does not understand: {0}")]
    Protocol(String),
    #[error("the townhall daemon refused: {0}")]
    Refused(String),
}

/// Send one request and read its single response.
pub async fn call(path: &Path, req: &Request) -> Result<Response, ClientError> {
    let mut last = None;
    stream(path, req, |r| last = Some(r)).await?;
    last.ok_or_else(|| ClientError::Protocol("no answer".into()))
}

/// Send one request and hand each response line to `each` until the daemon closes.
pub async fn stream(
    path: &Path,
    req: &Request,
    mut each: impl FnMut(Response),
) -> Result<(), ClientError> {
    let io_err = |source: io::Error| ClientError::Io {
        path: path.to_owned(),
        source,
    };
    let mut answers = lines::ask(path, req, false)
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => ClientError::DaemonDown {
                path: path.to_owned(),
            },
            io::ErrorKind::PermissionDenied => ClientError::NotRoot {
                path: path.to_owned(),
            },
            _ => io_err(e),
        })?;
    while let Some(answer) = answers
        .next::<Response>()
        .await
        .map_err(io_err)?
        .map_err(|e| ClientError::Protocol(e.to_string()))?
    {
        match answer {
            Response::Error { message } => return Err(ClientError::Refused(message)),
            r => each(r),
        }
    }
    Ok(())
}
