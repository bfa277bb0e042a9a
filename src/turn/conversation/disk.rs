//! The conversations on disk (waiting.json): each busy conversation's running turn's
//! messages and those waiting behind it. Read as written by earlier versions too.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Waiting;
use crate::os::OsError;

/// One conversation on disk.
#[derive(Debug, Serialize, Deserialize)]
pub struct Saved {
    pub resident: String,
    pub conversation: String,
    #[serde(default)]
    pub running: Vec<Waiting>,
    #[serde(default)]
    pub waiting: Vec<Waiting>,
    /// Parked by a usage limit until then (Unix seconds), its messages all in `waiting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked: Option<Parked>,
}

/// A conversation waiting for its provider's usage limit to reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parked {
    pub until: u64,
    /// How many times in a row it was parked (the backoff grows with it).
    pub times: u32,
}

/// waiting.json now, or as written before the running turn was saved too. The old form
/// is tried first: serde would read its arrays as `Saved` too.
#[derive(Deserialize)]
#[serde(untagged)]
enum OnDisk {
    Before(Vec<(String, String, Vec<Waiting>)>),
    Now(Vec<Saved>),
}

pub const FILE: &str = "waiting.json";

pub fn load(path: &Path) -> Result<Vec<Saved>, OsError> {
    let help = "it holds messages waiting for a turn; move it away and they are lost";
    Ok(match crate::os::read_state::<OnDisk>(path, help)? {
        None => vec![],
        Some(OnDisk::Now(s)) => s,
        Some(OnDisk::Before(s)) => s
            .into_iter()
            .map(|(resident, conversation, waiting)| Saved {
                resident,
                conversation,
                running: vec![],
                waiting,
                parked: None,
            })
            .collect(),
    })
}

pub fn save(path: &Path, saved: &[Saved]) -> Result<(), OsError> {
    crate::os::write_state(path, saved)
}
