//! Secrets reach the unprivileged processes as systemd credentials: root writes a drop-in
//! for each unit naming the deployed files, and PID 1 copies them into the unit's private
//! credentials directory at its start. The chat gets each resident's Matrix secrets, the
//! gate each model API's key. The files themselves stay root's (residents read none).

use std::path::{Path, PathBuf};

use townhall_wire::credentials::{api_key_id, password_id, recovery_id};

use crate::config::Town;
use crate::os::OsError;

pub fn dropin_path(unit: &str) -> PathBuf {
    PathBuf::from(format!("/run/systemd/system/{unit}.d/50-credentials.conf"))
}

/// Each unit with the credentials it gets: (id, deployed file).
fn wanted(town: &Town) -> [(&'static str, Vec<(String, PathBuf)>); 2] {
    let chat = town
        .residents
        .iter()
        .flat_map(|r| {
            let password = (password_id(&r.name), Some(&r.matrix.password_file));
            let recovery = (recovery_id(&r.name), r.matrix.recovery_file.as_ref());
            [password, recovery]
        })
        .filter_map(|(id, f)| Some((id, f?.clone())))
        .collect();
    let gate = town
        .gate
        .apis
        .iter()
        .map(|a| (api_key_id(&a.name), a.credential.clone()))
        .collect();
    [
        (crate::hall::CHAT_UNIT, chat),
        (crate::hall::GATE_UNIT, gate),
    ]
}

/// A drop-in's text. Only files that exist are named: PID 1 refuses to start a unit whose
/// credential is missing, and one undeployed secret must not silence the others.
fn dropin(files: &[(String, PathBuf)], exists: impl Fn(&Path) -> bool) -> String {
    let mut s = String::from("# Written by townhall from the town's config.\n[Service]\n");
    for (id, f) in files.iter().filter(|(_, f)| exists(f)) {
        s.push_str(&format!("LoadCredential={id}:{}\n", f.display()));
    }
    s
}

/// Write each unit's drop-in; the units whose drop-in changed (PID 1 must reload, and
/// they restart).
pub fn write(town: &Town) -> Result<Vec<&'static str>, OsError> {
    let mut changed = Vec::new();
    for (unit, files) in wanted(town) {
        let text = dropin(&files, |p| p.exists());
        if crate::os::write_if_changed(&dropin_path(unit), &text, 0o644)? {
            changed.push(unit);
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_deployed_secrets_are_named_each_for_its_unit() {
        let mut town = crate::testing::demo_town();
        town.gate.apis.push(crate::config::GateApi {
            name: "anthropic".into(),
            upstream: "https://api.anthropic.com".into(),
            key: crate::config::KeyScheme::XApiKey,
            credential: "/etc/townhall/gate/anthropic.key".into(),
        });
        let ada = town.resident("ada").unwrap().matrix.password_file.clone();
        let key = PathBuf::from("/etc/townhall/gate/anthropic.key");
        let deployed = |p: &Path| p == ada || p == key;
        let [(chat_unit, chat), (gate_unit, gate)] = wanted(&town);
        let (chat, gate) = (dropin(&chat, deployed), dropin(&gate, deployed));
        assert_eq!(
            (chat_unit, gate_unit),
            ("townhall-chat.service", "townhall-gate.service")
        );
        assert!(
            chat.contains(&format!("LoadCredential=matrix-ada:{}\n", ada.display())),
            "{chat}"
        );
        assert!(
            !chat.contains("matrix-vox") && !chat.contains("gate-"),
            "{chat}"
        );
        assert!(
            gate.contains("LoadCredential=gate-anthropic:/etc/townhall/gate/anthropic.key\n")
                && !gate.contains("matrix-"),
            "{gate}"
        );
    }
}
