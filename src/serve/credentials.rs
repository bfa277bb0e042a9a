//! The residents' Matrix secrets reach the chat process as systemd credentials: root writes
//! a drop-in for townhall-chat.service naming each deployed file, and PID 1 copies them
//! into the unit's private credentials directory at its start. The files themselves stay
//! root's (residents can read neither).

use std::path::{Path, PathBuf};

use townhall_wire::credentials::{password_id, recovery_id};

use crate::config::Town;
use crate::os::OsError;

pub fn dropin_path() -> PathBuf {
    PathBuf::from(format!(
        "/run/systemd/system/{}.d/50-credentials.conf",
        crate::hall::CHAT_UNIT
    ))
}

/// The drop-in's text. Only files that exist are named: PID 1 refuses to start a unit
/// whose credential is missing, and one undeployed secret must not silence every resident.
pub fn dropin(town: &Town, exists: impl Fn(&Path) -> bool) -> String {
    let mut s = String::from("# Written by townhall from the residents' configs.\n[Service]\n");
    for r in &town.residents {
        let files = [
            (password_id(&r.name), Some(&r.matrix.password_file)),
            (recovery_id(&r.name), r.matrix.recovery_file.as_ref()),
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
