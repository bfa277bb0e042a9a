//! A recording firewall for unit tests, which can be told to fail.

use std::sync::Mutex;

use super::{Firewall, Ruleset};
use crate::os::OsError;

#[derive(Debug, Default)]
pub struct FakeFirewall {
    loaded: Mutex<Vec<Option<String>>>,
    fail: Option<String>,
}

impl FakeFirewall {
    pub fn failing(detail: &str) -> Self {
        Self {
            fail: Some(detail.to_string()),
            ..Self::default()
        }
    }

    /// Each table loaded, in order (`None`: the table was removed).
    pub fn loaded(&self) -> Vec<Option<String>> {
        self.loaded.lock().expect("lock").clone()
    }
}

impl Firewall for FakeFirewall {
    fn load(&self, rules: Option<&Ruleset>) -> Result<(), OsError> {
        if let Some(detail) = &self.fail {
            return Err(OsError::new("loading the egress rules", detail));
        }
        let text = rules.map(|r| r.script().to_string());
        self.loaded.lock().expect("lock").push(text);
        Ok(())
    }
}
