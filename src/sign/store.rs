//! The key store as a seam: what the town asks of the residents' signing keys. `Keys`
//! keeps them in root's state dir; the fake keeps made-up ones in memory, so the reset's
//! signing step is tested without key files.

use ssh_key::PrivateKey;

use super::{KeyError, Keys, Retired};
use crate::config::Town;

pub trait KeyStore {
    /// The resident's private key, made on first need.
    fn get(&self, resident: &str) -> Result<PrivateKey, KeyError>;
    /// Its public key, `ssh-ed25519 AAAA…` without a comment.
    fn public(&self, resident: &str) -> Result<String, KeyError>;
    /// Its rotated-out keys.
    fn retired(&self, resident: &str) -> Result<Vec<Retired>, KeyError>;
    /// A new key for the resident; the old one stays verifiable for older commits.
    fn rotate(&self, town: &Town, resident: &str) -> Result<String, KeyError>;
    /// Write the town's allowed_signers, world-readable, at `path`.
    fn publish(&self, town: &Town, path: &std::path::Path) -> Result<(), KeyError>;
}

impl KeyStore for Keys {
    fn get(&self, resident: &str) -> Result<PrivateKey, KeyError> {
        Keys::get(self, resident)
    }
    fn public(&self, resident: &str) -> Result<String, KeyError> {
        Keys::public(self, resident)
    }
    fn retired(&self, resident: &str) -> Result<Vec<Retired>, KeyError> {
        Keys::retired(self, resident)
    }
    fn rotate(&self, town: &Town, resident: &str) -> Result<String, KeyError> {
        Keys::rotate(self, town, resident)
    }
    fn publish(&self, town: &Town, path: &std::path::Path) -> Result<(), KeyError> {
        Keys::publish(self, town, path)
    }
}
