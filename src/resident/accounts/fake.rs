//! The recording fake of this seam (FakeAccounts), compiled for tests only.

use std::sync::Mutex;

use crate::os::Recorder;

use super::*;

/// Accounts in memory; records every create.
#[derive(Debug, Default)]
pub struct FakeAccounts {
    pub accounts: Mutex<Vec<Account>>,
    pub calls: Recorder,
}

impl FakeAccounts {
    pub fn with(accounts: Vec<Account>) -> Self {
        Self {
            accounts: Mutex::new(accounts),
            calls: Recorder::default(),
        }
    }

    fn find(&self, f: impl Fn(&Account) -> bool) -> Option<Account> {
        self.accounts
            .lock()
            .expect("lock")
            .iter()
            .find(|a| f(a))
            .cloned()
    }
}

impl Accounts for FakeAccounts {
    fn by_name(&self, name: &str) -> Result<Option<Account>, OsError> {
        Ok(self.find(|a| a.name == name))
    }

    fn by_uid(&self, uid: u32) -> Result<Option<Account>, OsError> {
        Ok(self.find(|a| a.uid == uid))
    }

    fn create(&self, a: &Account) -> Result<(), OsError> {
        self.calls.record(format!("create {} {}", a.name, a.uid));
        self.accounts.lock().expect("lock").push(a.clone());
        Ok(())
    }
}
