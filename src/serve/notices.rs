//! Notices to a resident's declared rooms (device grants, what a reset moved aside or could
//! not build): sent through its bot, or kept until the bot connects.

use super::Daemon;
use crate::chat::Chat;
use crate::config::Town;
use crate::grant::Acls;
use crate::resident::Accounts;
use crate::units::UserManagers;

impl<A, M, G> Daemon<A, M, G>
where
    A: Accounts + Send + Sync + 'static,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// Say `text` in every room `resident` declares; kept for later if its bot is not connected.
    pub(super) fn tell(&self, town: &Town, resident: &str, text: String) {
        let Some(chat) = self.chats.lock().expect("lock").get(resident).cloned() else {
            self.pending.lock().expect("lock").entry(resident.to_string()).or_default().push(text);
            return;
        };
        let rooms: Vec<String> = town.resident(resident).map(|r| r.rooms.iter().filter(|x| x.starts_with('!')).cloned().collect()).unwrap_or_default();
        tokio::spawn(async move {
            for room in rooms {
                if let Err(e) = chat.send(&room, None, &text).await {
                    tracing::warn!("notice to {room}: {e}");
                }
            }
        });
    }

    /// The resident's bot is connected: say what waited for it.
    pub(super) fn flush(&self, resident: &str) {
        let waiting = self.pending.lock().expect("lock").remove(resident).unwrap_or_default();
        let town = self.town();
        for text in waiting {
            self.tell(&town, resident, text);
        }
    }

    /// A round began (here, through the CLI, or at boot): tell each resident's rooms what the
    /// reset moved aside or could not do for it, once per round.
    pub(super) fn round_began(&self) {
        self.start_agents();
        let town = self.town();
        let state = crate::round::RoundState::new(&town.state);
        let Some(report) = state.last() else { return };
        let told = town.state.join("notified-round");
        let last_told: u64 = std::fs::read_to_string(&told).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        if report.round <= last_told {
            return;
        }
        for r in &town.residents {
            let prefix = format!("{}: ", r.name);
            let lines: Vec<String> = report.warnings().iter().filter_map(|w| w.strip_prefix(&prefix).map(|w| format!("- {w}"))).collect();
            if !lines.is_empty() {
                self.tell(&town, &r.name, format!("**Round {} began**, and the reset reports for {}:\n{}", report.round, r.name, lines.join("\n")));
            }
        }
        if let Err(e) = crate::os::write_atomic(&told, format!("{}\n", report.round).as_bytes()) {
            tracing::warn!("{e}");
        }
    }
}
