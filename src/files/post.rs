//! The files' way through the host as a seam: a mayor's file from the chat's spool into a
//! resident's inbox, a turn's outbox into root's hand-over directory for the chat to
//! upload, and the copies gone once the answer is posted. `HostPost` does it on the host;
//! the fake records it, so the daemon's part (the prompt's line, the audit, the refusal
//! the room reads) is tested without a resident or a chat user.

use std::path::{Path, PathBuf};

use super::{Outgoing, Resident, Unspooled};
use crate::os::{OsContext, OsError};

/// Root's copies of outbox files, group-readable by the chat user only.
pub const HANDOVER: &str = "/run/townhall-files";
/// The chat's spool under its systemd StateDirectory.
const CHAT_SPOOL: &str = "/var/lib/townhall-chat/spool";

pub trait Post {
    /// Take the chat's spooled file `spool` into `to`'s inbox as `name`, at most `max`
    /// bytes: where it was saved, and its size.
    fn receive(
        &self,
        to: &Resident,
        name: &str,
        spool: &Path,
        max: u64,
    ) -> Result<(PathBuf, u64), Unspooled>;
    /// `from`'s outbox after a turn (files of at most `max` bytes), copied for the chat:
    /// the files, and a line for each that could not go.
    fn send(&self, from: &Resident, resident: &str, max: u64) -> (Vec<Outgoing>, Vec<String>);
    /// The file at `path` that `from`'s agent picked (inside its home, at most `max`
    /// bytes), copied for the chat to upload now.
    fn send_file(
        &self,
        from: &Resident,
        resident: &str,
        path: &str,
        max: u64,
    ) -> Result<Outgoing, OsError>;
    /// The answer was posted: root's copies of its files go.
    fn delivered(&self, files: &[PathBuf]);
}

/// The host: the chat user's spool and `/run/townhall-files`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostPost;

fn chat_ids() -> Option<(u32, u32)> {
    nix::unistd::User::from_name(crate::hall::CHAT_USER)
        .ok()
        .flatten()
        .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
}

impl Post for HostPost {
    fn receive(
        &self,
        to: &Resident,
        name: &str,
        spool: &Path,
        max: u64,
    ) -> Result<(PathBuf, u64), Unspooled> {
        // The chat's own spool, a file of its uid (the chat never runs as root).
        let (owner, _) = chat_ids().ok_or(Unspooled::NoChatUser)?;
        let file = super::open_spooled(spool, Path::new(CHAT_SPOOL), owner, max)?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok((super::deliver(to, name, file)?, bytes))
    }

    fn send(&self, from: &Resident, resident: &str, max: u64) -> (Vec<Outgoing>, Vec<String>) {
        let gid = chat_ids().map_or(0, |(_, g)| g);
        super::take(from, max, || handover_dir(resident, gid), gid)
    }

    fn send_file(
        &self,
        from: &Resident,
        resident: &str,
        path: &str,
        max: u64,
    ) -> Result<Outgoing, OsError> {
        let gid = chat_ids().map_or(0, |(_, g)| g);
        let dir = handover_dir(resident, gid)?;
        super::picked::copy(from, path, max, &dir, gid).inspect_err(|_| {
            let _ = std::fs::remove_dir(&dir);
        })
    }

    fn delivered(&self, files: &[PathBuf]) {
        for f in files.iter().filter(|f| f.starts_with(HANDOVER)) {
            let _ = std::fs::remove_file(f);
            if let Some(dir) = f.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

/// A new directory under HANDOVER (root's, 0750, the chat's group).
fn handover_dir(resident: &str, gid: u32) -> Result<PathBuf, OsError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| {
        let what = || format!("making {} the chat's to read", p.display());
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o750)).os(what)?;
        nix::unistd::chown(
            p,
            Some(nix::unistd::Uid::from_raw(0)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .os(what)
    };
    let root = Path::new(HANDOVER);
    if !root.is_dir() {
        std::fs::create_dir(root).os(|| format!("creating {HANDOVER}"))?;
    }
    mode(root)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = root.join(format!("{resident}-{stamp}"));
    std::fs::create_dir(&dir).os(|| format!("creating {}", dir.display()))?;
    mode(&dir)?;
    Ok(dir)
}
