//! The recording fake of the key store (FakeKeys), compiled for tests only: made-up public
//! keys, every call recorded, and residents whose keys fail to read.

use std::collections::BTreeSet;
use std::sync::Mutex;

use ssh_key::PrivateKey;

use super::{KeyError, KeyStore, Retired};
use crate::config::Town;
use crate::os::{OsError, Recorder};

#[derive(Debug, Default)]
pub struct FakeKeys {
    pub calls: Recorder,
    /// Residents whose key cannot be read.
    pub broken: Mutex<BTreeSet<String>>,
}

impl FakeKeys {
    fn check(&self, resident: &str) -> Result<(), KeyError> {
        if self.broken.lock().expect("lock").contains(resident) {
            return Err(OsError::new(format!("reading {resident}'s key"), "told to fail").into());
        }
        Ok(())
    }
}

impl KeyStore for FakeKeys {
    fn get(&self, resident: &str) -> Result<PrivateKey, KeyError> {
        self.calls.record(format!("get {resident}"));
        self.check(resident)?;
        let key = PrivateKey::random(&mut ssh_key::rand_core::OsRng, ssh_key::Algorithm::Ed25519);
        Ok(key.map_err(|e| OsError::new("making a key", e))?)
    }
    fn public(&self, resident: &str) -> Result<String, KeyError> {
        self.calls.record(format!("public {resident}"));
        self.check(resident)?;
        Ok(format!("ssh-ed25519 FAKE-{resident}"))
    }
    fn retired(&self, resident: &str) -> Result<Vec<Retired>, KeyError> {
        self.calls.record(format!("retired {resident}"));
        Ok(vec![])
    }
    fn rotate(&self, _: &Town, resident: &str) -> Result<String, KeyError> {
        self.calls.record(format!("rotate {resident}"));
        self.check(resident)?;
        Ok(format!("ssh-ed25519 FAKE-{resident}-2"))
    }
    fn publish(&self, _: &Town, path: &std::path::Path) -> Result<(), KeyError> {
        self.calls.record(format!("publish {}", path.display()));
        Ok(())
    }
}
