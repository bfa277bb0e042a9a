//! The agent's socket: in a directory of root's that only its resident may enter (mode
//! 0700 and an ACL entry letting its uid search it), bound in root's own directory first and
//! renamed into place. The resident owns nothing on /run outside its runtime dir, so it
//! cannot fill the tmpfs every unit needs or plant anything for the next round there.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};

use super::{agent_dir, agent_socket};

/// `dir` as root's, mode 0700, searchable by `uid` alone (a named ACL entry, not a group:
/// a resident's group may be shared).
fn root_dir_for(dir: &std::path::Path, uid: u32) -> std::io::Result<()> {
    use exacl::{AclEntry, Perm};
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() && m.uid() == 0 => {}
        Ok(_) => {
            // An older townhall's (the resident's own), or something planted: removed by
            // descriptor, never followed.
            let top = nix::fcntl::open(
                dir.parent().expect("a parent"),
                nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_NOFOLLOW,
                nix::sys::stat::Mode::empty(),
            )?;
            let name = std::ffi::CString::new(dir.file_name().expect("a name").as_encoded_bytes())
                .map_err(std::io::Error::other)?;
            crate::level::remove_tree_at(&top, &name)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if !dir.exists() {
        std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let entries = [
        AclEntry::allow_user("", Perm::READ | Perm::WRITE | Perm::EXECUTE, None),
        AclEntry::allow_group("", Perm::empty(), None),
        AclEntry::allow_other(Perm::empty(), None),
        AclEntry::allow_user(&uid.to_string(), Perm::EXECUTE, None),
        AclEntry::allow_mask(Perm::EXECUTE, None),
    ];
    exacl::setfacl(&[dir], &entries, None)
}

pub fn bind(resident: &str, uid: u32) -> std::io::Result<tokio::net::UnixListener> {
    let dir = agent_dir(resident);
    let top = dir.parent().expect("agent dirs have a parent");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(top)?;
    std::fs::set_permissions(top, std::fs::Permissions::from_mode(0o755))?;
    root_dir_for(&dir, uid)?;
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
