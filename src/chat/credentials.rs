//! The residents' Matrix secrets reach the chat process as systemd credentials: root writes
//! a drop-in for townhall-chat.service naming each deployed file, PID 1 copies them into
//! the unit's private credentials directory at its start, and the chat user reads them
//! there. The files themselves stay root's (residents can read neither).

use std::path::{Path, PathBuf};

use crate::config::{Resident, Town};
use crate::os::OsError;

pub fn dropin_path() -> PathBuf {
    PathBuf::from(format!(
        "/run/systemd/system/{}.d/50-credentials.conf",
        crate::hall::CHAT_UNIT
    ))
}

fn password_id(r: &Resident) -> String {
    format!("matrix-{}", r.name)
}

fn recovery_id(r: &Resident) -> String {
    format!("recovery-{}", r.name)
}

/// The drop-in's text. Only files that exist are named: PID 1 refuses to start a unit
/// whose credential is missing, and one undeployed secret must not silence every resident.
pub fn dropin(town: &Town, exists: impl Fn(&Path) -> bool) -> String {
    let mut s = String::from("# Written by townhall from the residents' configs.\n[Service]\n");
    for r in &town.residents {
        let files = [
            (password_id(r), Some(&r.matrix.password_file)),
            (recovery_id(r), r.matrix.recovery_file.as_ref()),
        ];
        for (id, file) in files {
            if let Some(f) = file.filter(|f| exists(f)) {
                s.push_str(&format!("LoadCredential={id}:{}\n", f.display()));
            }
        }
    }
    s
}

/// Write the drop-in; true when it changed (PID 1 must reload, the chat restart).
pub fn write(town: &Town) -> Result<bool, OsError> {
    crate::os::write_if_changed(&dropin_path(), &dropin(town, |p| p.exists()), 0o644)
}

/// Where the chat reads a resident's secret: its credential under systemd, else (run by
/// hand as root) the deployed file itself.
fn source(default: &Path, id: String) -> PathBuf {
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) => Path::new(&dir).join(id),
        None => default.to_path_buf(),
    }
}

pub fn password(r: &Resident) -> PathBuf {
    source(&r.matrix.password_file, password_id(r))
}

pub fn recovery(r: &Resident) -> Option<PathBuf> {
    r.matrix
        .recovery_file
        .as_ref()
        .map(|f| source(f, recovery_id(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_deployed_secrets_are_named() {
        let town = crate::testing::demo_town();
        let ada = town.resident("ada").unwrap().matrix.password_file.clone();
        let d = dropin(&town, |p| p == ada);
        assert!(
            d.contains(&format!("LoadCredential=matrix-ada:{}\n", ada.display())),
            "{d}"
        );
        assert!(!d.contains("matrix-vox"), "{d}");
    }
}
