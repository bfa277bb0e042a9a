//! The audit log: one JSON object a line in the state dir (root only), for every action a
//! user would want to account for (turns, resets, grants, pushes, approvals, refused
//! messages…); `read` asks it questions (`townhall audit`, `!audit`), `summary` says each
//! entry in a line.

pub mod read;
pub mod summary;
pub mod usage;

use std::io::Write;
use std::path::Path;

use crate::os::{OsContext, OsError};

pub use read::{Entry, Filter};

pub fn append(state: &Path, event: &str, detail: &impl serde::Serialize) -> Result<(), OsError> {
    let path = state.join("audit.log");
    let what = || format!("appending to {}", path.display());
    let line = serde_json::json!({ "time": crate::round::now_rfc3339(), "event": event, "detail": detail });
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .os(what)?;
    writeln!(f, "{line}").os(what)
}

/// `append`, for a caller that goes on whatever happens: a failure is logged.
pub fn record(state: &Path, event: &str, detail: &impl serde::Serialize) {
    if let Err(e) = append(state, event, detail) {
        tracing::warn!("{e}");
    }
}
