//! Where the chat reads each resident's Matrix secrets: the credentials PID 1 copied into
//! the unit's private directory from root's drop-in (named as townhall-wire says).

use std::path::{Path, PathBuf};

use townhall_wire::credentials::{password_id, recovery_id};

use townhall_config::Resident;

/// The credential under systemd, else (run by hand, as a user that can read it) the
/// deployed file itself.
fn source(default: &Path, id: String) -> PathBuf {
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) => Path::new(&dir).join(id),
        None => default.to_path_buf(),
    }
}

pub fn password(r: &Resident) -> PathBuf {
    source(&r.matrix.password_file, password_id(&r.name))
}

pub fn recovery(r: &Resident) -> Option<PathBuf> {
    r.matrix
        .recovery_file
        .as_ref()
        .map(|f| source(f, recovery_id(&r.name)))
}
