//! Why the daemon said no to something the hall asked, typed: the hall sends its words to
//! the room as they are, so each says what was wrong and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Declined {
    #[error("{0} is not a resident of this town")]
    NoResident(String),
    #[error(transparent)]
    Unspooled(#[from] crate::files::Unspooled),
    #[error("no present device that a rule matches is called {0:.60}; `!devices` lists them")]
    NoDevice(String),
    /// Why the device's rules refuse it (its `uaccess` tag), as the keeper said.
    #[error("{0}")]
    DeviceRefused(String),
    #[error("{} is not leased; `!devices` shows who holds it and why", .0.display())]
    NotLeased(PathBuf),
    #[error("{} is not tailed", .0.display())]
    NotTailed(PathBuf),
    /// A mode the resident's kind or `[agent] models` does not take.
    #[error(transparent)]
    Mode(#[from] crate::turn::modes::NoMode),
    #[error("question {0} is not waiting (decided, or timed out)")]
    NotWaiting(u64),
    #[error(transparent)]
    Os(#[from] crate::os::OsError),
    #[error(transparent)]
    RoundFile(#[from] crate::round::RoundFileError),
    #[error(transparent)]
    Reset(#[from] crate::reset::ResetError),
    #[error(transparent)]
    Checkpoint(#[from] crate::round::CheckpointError),
    #[error("the daemon's worker thread failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
}
