//! The names of the chat's systemd credentials: root's drop-in for townhall-chat.service
//! loads each resident's deployed secret under this name, and the chat reads it by the
//! same name from its credentials directory.

pub fn password_id(resident: &str) -> String {
    format!("matrix-{resident}")
}

pub fn recovery_id(resident: &str) -> String {
    format!("recovery-{resident}")
}
