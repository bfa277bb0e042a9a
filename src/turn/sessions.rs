//! CLI session ids per (resident, conversation), kept in the root-only state dir so a
//! conversation continues across messages, restarts and rounds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::os::OsError;

pub struct Sessions {
    path: PathBuf,
    map: Mutex<BTreeMap<String, String>>,
}

fn key(resident: &str, conversation: &str) -> String {
    format!("{resident}/{conversation}")
}

impl Sessions {
    pub fn load(state: &Path) -> Result<Self, OsError> {
        let path = state.join("sessions.json");
        let help = "it maps conversations to CLI session ids; move it away and every conversation starts a fresh session";
        let map = crate::os::read_state(&path, help)?.unwrap_or_default();
        Ok(Self { path, map: Mutex::new(map) })
    }

    pub fn get(&self, resident: &str, conversation: &str) -> Option<String> {
        self.map.lock().expect("lock").get(&key(resident, conversation)).cloned()
    }

    pub fn set(&self, resident: &str, conversation: &str, id: Option<&str>) -> Result<(), OsError> {
        let mut map = self.map.lock().expect("lock");
        match id {
            Some(id) => map.insert(key(resident, conversation), id.to_string()),
            None => map.remove(&key(resident, conversation)),
        };
        crate::os::write_state(&self.path, &*map)
    }
}
