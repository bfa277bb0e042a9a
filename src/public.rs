//! The public directory (`/srv/townhall`): what the town publishes for anyone on the host
//! to read, such as the settings a gemini resident's CLI starts from and its approval
//! hooks. A seam, so that the desk and the daemon that publish are tested without writing
//! to the host.

use std::path::{Path, PathBuf};

use crate::os::OsError;

pub const DIR: &str = "/srv/townhall";

pub trait PublicFiles {
    /// Where `name` is published: what a CLI is told to read.
    fn path(&self, name: &str) -> PathBuf {
        Path::new(DIR).join(name)
    }
    /// Publish `text` as `name`, world-readable, when it differs; whether it did.
    fn publish(&self, name: &str, text: &str) -> Result<bool, OsError>;
}

/// The host's public directory.
#[derive(Debug, Clone, Copy)]
pub struct PublicDir;

impl PublicFiles for PublicDir {
    fn publish(&self, name: &str, text: &str) -> Result<bool, OsError> {
        crate::os::write_if_changed(&self.path(name), text, 0o644)
    }
}

/// The recording fake (FakePublic), compiled for tests only: what was published, by name.
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub struct FakePublic {
    pub published: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>,
}

#[cfg(test)]
impl PublicFiles for FakePublic {
    fn publish(&self, name: &str, text: &str) -> Result<bool, OsError> {
        let mut p = self.published.lock().expect("lock");
        Ok(p.insert(name.into(), text.into()).as_deref() != Some(text))
    }
}
