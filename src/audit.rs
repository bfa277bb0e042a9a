//! The audit log: one JSON object a line in the state dir (root only), for every action a
//! user would want to account for (resets, grants, refused messages…).

use std::io::Write;
use std::path::Path;

use crate::os::{OsContext, OsError};

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
