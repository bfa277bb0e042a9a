//! Files through the daemon: a mayor's file from the chat's spool into the resident's
//! inbox (and a line for the conversation's next prompt); a turn's outbox into root's
//! hand-over directory, which the chat can read, until the answer is delivered.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use super::Daemon;
use super::declined::Declined;
use crate::config::Town;
use crate::files::{self, Outgoing, Post};
use crate::grant::Acls;
use crate::machine::Machine;
use crate::units::UserManagers;

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
        persist: town.persist_dir(r),
        home,
    }
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
        let (w, n, spool) = (who(&town, r), name.to_string(), PathBuf::from(spool));
        let (max, machine) = (r.files.max_bytes, self.machine.clone());
        let (saved, bytes) =
            tokio::task::spawn_blocking(move || machine.post().receive(&w, &n, &spool, max))
                .await??;
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
        let (name, machine) = (resident.to_string(), self.machine.clone());
        let r = tokio::task::spawn_blocking(move || machine.post().send(&w, &name, max));
        r.await
            .unwrap_or_else(|e| (vec![], vec![Declined::from(e).to_string()]))
    }

    /// The file at `path` that `r`'s agent picked, copied for the chat; or why not.
    pub(super) async fn file_picked(
        &self,
        r: &crate::config::Resident,
        path: &str,
    ) -> Result<Outgoing, String> {
        let (w, max) = (who(&self.town(), r), r.files.max_bytes);
        let (name, path, machine) = (r.name.clone(), path.to_string(), self.machine.clone());
        let copied =
            tokio::task::spawn_blocking(move || machine.post().send_file(&w, &name, &path, max));
        match copied.await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(Declined::from(e).to_string()),
        }
    }

    /// The answer is posted: its copies go.
    pub(super) fn delivered(&self, files: &[crate::hall::Outgoing]) {
        let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        self.machine.post().delivered(&paths);
    }
}

#[cfg(test)]
mod tests;
