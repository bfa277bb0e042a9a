//! The names of systemd credentials: root's drop-ins load each deployed secret under
//! these names (for townhall-chat.service each resident's Matrix secrets, for
//! townhall-gate.service each model API's key), and the process reads it by the same name
//! from its credentials directory.

pub fn password_id(resident: &str) -> String {
    format!("matrix-{resident}")
}

pub fn recovery_id(resident: &str) -> String {
    format!("recovery-{resident}")
}

/// A model API's key, as the gate reads it.
pub fn api_key_id(api: &str) -> String {
    format!("gate-{api}")
}
