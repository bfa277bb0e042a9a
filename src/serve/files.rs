//! Files through the daemon: a mayor's file from the chat's spool into the resident's
//! inbox (and a line for the conversation's next prompt); a turn's outbox into root's
//! hand-over directory, which the chat can read, until the answer is delivered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Daemon;
use super::declined::Declined;
use crate::config::Town;
use crate::files::{self, Outgoing};
use crate::grant::Acls;
use crate::machine::Machine;
use crate::os::{OsContext, OsError};
use crate::units::UserManagers;

/// Root's copies of outbox files, group-readable by the chat user only.
pub const HANDOVER: &str = "/run/townhall-files";
/// The chat's spool under its systemd StateDirectory.
const CHAT_SPOOL: &str = "/var/lib/townhall-chat/spool";

/// Lines about files received, per resident and conversation, for its next prompt.
#[derive(Default)]
pub struct Received(Mutex<HashMap<(String, String), Vec<String>>>);

impl Received {
    pub fn add(&self, resident: &str, conversation: &str, line: String) {
        self.0
            .lock()
            .expect("lock")
            .entry((resident.into(), conversation.into()))
            .or_default()
            .push(line);
    }

    pub fn take(&self, resident: &str, conversation: &str) -> Vec<String> {
        self.0
            .lock()
            .expect("lock")
            .remove(&(resident.to_string(), conversation.to_string()))
            .unwrap_or_default()
    }
}

fn who(town: &Town, r: &crate::config::Resident) -> files::Resident {
    let home = town.home(r);
    files::Resident {
        uid: r.uid,
        gid: r.uid,
        workspace: home.join(&r.agent.workspace),
        home,
    }
}

fn chat_ids() -> Option<(u32, u32)> {
    nix::unistd::User::from_name(crate::hall::CHAT_USER)
        .ok()
        .flatten()
        .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// Take a spooled file into `resident`'s inbox; the path it got there.
    pub(super) async fn file_in(
        &self,
        resident: &str,
        sender: &str,
        conversation: &str,
        name: &str,
        mimetype: &str,
        spool: &str,
    ) -> Result<String, Declined> {
        let town = self.town();
        let r = town
            .resident(resident)
            .ok_or_else(|| Declined::NoResident(resident.into()))?;
        // The chat's own spool, a file of its uid (the chat never runs as root).
        let spool = PathBuf::from(spool);
        let dir = PathBuf::from(CHAT_SPOOL);
        let (Some((owner, _)), true) = (chat_ids(), spool.parent() == Some(dir.as_path())) else {
            return Err(Declined::NotInSpool(spool));
        };
        let file = files::open_spooled(&spool, &dir, owner, r.files.max_bytes)?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (w, n) = (who(&town, r), name.to_string());
        let saved = tokio::task::spawn_blocking(move || files::deliver(&w, &n, file)).await??;
        let path = saved.display().to_string();
        tracing::info!(%resident, %sender, "saved a file at {path}");
        let detail = serde_json::json!({ "resident": resident, "sender": sender, "path": path, "bytes": bytes });
        if let Err(e) = crate::audit::append(&town.state, "file-received", &detail) {
            tracing::warn!("{e}");
        }
        self.received.add(
            resident,
            conversation,
            format!(
                "[{sender} sent a file, saved at {path} ({mimetype}, {})]",
                crate::os::size(bytes)
            ),
        );
        Ok(path)
    }

    /// The outbox of `resident` after a turn, copied into a fresh hand-over directory.
    pub(super) async fn files_out(&self, resident: &str) -> (Vec<Outgoing>, Vec<String>) {
        let town = self.town();
        let Some(r) = town.resident(resident) else {
            return (vec![], vec![]);
        };
        let (w, max) = (who(&town, r), r.files.max_bytes);
        let name = resident.to_string();
        let r = tokio::task::spawn_blocking(move || {
            let gid = chat_ids().map_or(0, |(_, g)| g);
            files::take(&w, max, || handover_dir(&name, gid), gid)
        });
        r.await
            .unwrap_or_else(|e| (vec![], vec![Declined::from(e).to_string()]))
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

/// The answer is posted: its copies go.
pub fn delivered(files: &[crate::hall::Outgoing]) {
    for f in files.iter().filter(|f| f.path.starts_with(HANDOVER)) {
        let _ = std::fs::remove_file(&f.path);
        if let Some(dir) = f.path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
