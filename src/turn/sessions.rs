//! CLI session ids per (resident, conversation), kept in the root-only state dir so a
//! conversation continues across messages, restarts and rounds. Each remembers the kind
//! that made it (another CLI cannot resume it) and, for a CLI that reports usage as the
//! session's running total, that total (so a turn's own usage is the difference).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::config::AgentKind;
use crate::os::OsError;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub id: String,
    /// None for ids saved before kinds were kept: taken to be the resident's kind.
    #[serde(default)]
    pub kind: Option<AgentKind>,
    /// Input and output tokens the CLI last reported for the whole session.
    #[serde(default)]
    pub tokens: [u64; 2],
    /// When a turn last used it (seconds since the epoch): `townhall attach` picks the latest.
    #[serde(default)]
    pub at: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Saved {
    Session(Session),
    Id(String),
}

pub struct Sessions {
    path: PathBuf,
    map: Mutex<BTreeMap<String, Saved>>,
}

fn key(resident: &str, conversation: &str) -> String {
    format!("{resident}/{conversation}")
}

impl Sessions {
    pub fn load(state: &Path) -> Result<Self, OsError> {
        let path = state.join("sessions.json");
        let help = "it maps conversations to CLI session ids; move it away and every conversation starts a fresh session";
        let map = crate::os::read_state(&path, help)?.unwrap_or_default();
        Ok(Self {
            path,
            map: Mutex::new(map),
        })
    }

    pub fn get(&self, resident: &str, conversation: &str) -> Option<Session> {
        match self
            .map
            .lock()
            .expect("lock")
            .get(&key(resident, conversation))?
        {
            Saved::Session(s) => Some(s.clone()),
            Saved::Id(id) => Some(Session {
                id: id.clone(),
                kind: None,
                tokens: [0, 0],
                at: 0,
            }),
        }
    }

    /// The resident's most recently used session, with its conversation.
    pub fn latest(&self, resident: &str) -> Option<(String, Session)> {
        let prefix = format!("{resident}/");
        let map = self.map.lock().expect("lock");
        let found = map
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?, v)));
        let all = found.map(|(c, v)| match v {
            Saved::Session(s) => (c.to_string(), s.clone()),
            Saved::Id(id) => (
                c.to_string(),
                Session {
                    id: id.clone(),
                    kind: None,
                    tokens: [0, 0],
                    at: 0,
                },
            ),
        });
        all.max_by_key(|(_, s)| s.at)
    }

    pub fn set(
        &self,
        resident: &str,
        conversation: &str,
        session: Option<Session>,
    ) -> Result<(), OsError> {
        let mut map = self.map.lock().expect("lock");
        match session {
            Some(s) => map.insert(key(resident, conversation), Saved::Session(s)),
            None => map.remove(&key(resident, conversation)),
        };
        crate::os::write_state(&self.path, &*map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_saved_before_kinds_were_kept_still_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("sessions.json"), r#"{"ada/!r:t":"5b9a"}"#).unwrap();
        let s = Sessions::load(dir.path()).unwrap();
        assert_eq!(
            s.get("ada", "!r:t"),
            Some(Session {
                id: "5b9a".into(),
                kind: None,
                tokens: [0, 0],
                at: 0
            })
        );
        let codex = Session {
            id: "t1".into(),
            kind: Some(AgentKind::Codex),
            tokens: [222, 44],
            at: 7,
        };
        s.set("ada", "!r:t", Some(codex.clone())).unwrap();
        assert_eq!(
            Sessions::load(dir.path()).unwrap().get("ada", "!r:t"),
            Some(codex.clone())
        );
        s.set(
            "ada",
            "!older:t",
            Some(Session {
                at: 3,
                ..codex.clone()
            }),
        )
        .unwrap();
        assert_eq!(s.latest("ada").map(|(c, _)| c), Some("!r:t".into()));
        assert_eq!(s.latest("vox"), None);
    }
}
