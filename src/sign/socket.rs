//! The agent's socket: in a directory only its resident may enter, bound in root's own
//! directory first and renamed into place, so nothing the resident put in its directory
//! can make root bind, chmod or chown somewhere else.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};


use super::{agent_dir, agent_socket};

pub fn bind(resident: &str, uid: u32) -> std::io::Result<tokio::net::UnixListener> {
    let dir = agent_dir(resident);
    let top = dir.parent().expect("agent dirs have a parent");
    std::fs::DirBuilder::new().recursive(true).mode(0o755).create(top)?;
    std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o755))?;
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() && m.uid() == uid && m.mode() & 0o777 == 0o700 => {}
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(&dir)?,
        Ok(_) => std::fs::remove_file(&dir)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if !dir.exists() {
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        nix::unistd::chown(&dir, Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(uid)))?;
    }
    let staging = top.join(format!(".{resident}.sock"));
    let _ = std::fs::remove_file(&staging);
    let listener = std::os::unix::net::UnixListener::bind(&staging)?;
    // Anyone who can reach it may connect; only the resident can reach it, and the agent
    // checks the peer's uid too.
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o666))?;
    std::fs::rename(&staging, agent_socket(resident))?;
    listener.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(listener)
}

