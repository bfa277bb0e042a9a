//! Each bot's Matrix presence says what its resident is doing — idle, working on what,
//! waiting for approval — as root reports it. What reaches the homeserver is coalesced: at
//! most one update per MIN_GAP per resident, and always the latest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use townhall_wire::hall::Activity;

use super::Chat;

/// The least time between two presence updates of one bot.
pub const MIN_GAP: Duration = Duration::from_secs(2);

/// Per resident, the latest activity root reported, and the writer of its connected bot.
#[derive(Default)]
pub struct Presences(Mutex<HashMap<String, Shown>>);

#[derive(Default)]
struct Shown {
    latest: Option<Activity>,
    writer: Option<watch::Sender<Activity>>,
}

impl Presences {
    /// `resident`'s bot (re)connected as `chat`: it shows what root last said (idle if
    /// nothing yet), and the writer of an earlier connection ends.
    pub fn connected<C: Chat>(&self, resident: &str, chat: C) {
        let mut all = self.0.lock().expect("lock");
        let shown = all.entry(resident.into()).or_default();
        let (tx, rx) = watch::channel(shown.latest.clone().unwrap_or(Activity::Idle));
        shown.writer = Some(tx);
        tokio::spawn(writer(chat, resident.to_string(), rx));
    }

    /// `resident` now does `a`: shown now if its bot is connected, else once it is.
    pub fn set(&self, resident: &str, a: Activity) {
        let mut all = self.0.lock().expect("lock");
        let shown = all.entry(resident.into()).or_default();
        if let Some(tx) = &shown.writer {
            tx.send_replace(a.clone());
        }
        shown.latest = Some(a);
    }
}

async fn writer<C: Chat>(chat: C, resident: String, mut rx: watch::Receiver<Activity>) {
    loop {
        let status = rx.borrow_and_update().status();
        if let Err(e) = chat.presence(&status).await {
            tracing::warn!(%resident, "setting the bot's presence: {e}");
        }
        tokio::time::sleep(MIN_GAP).await;
        // Ends when a later connection replaced this one.
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeChat;

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_is_one_update_per_gap_ending_with_the_latest() {
        let (chat, p) = (FakeChat::default(), Presences::default());
        p.connected("ada", chat.clone());
        tokio::time::sleep(Duration::from_millis(10)).await;
        for i in 0..50 {
            p.set("ada", Activity::working(&format!("task {i}")));
        }
        p.set("ada", Activity::WaitingForApproval);
        tokio::time::sleep(MIN_GAP * 3).await;
        assert_eq!(
            chat.calls.calls(),
            ["presence idle", "presence waiting for approval"]
        );
        p.set("vox", Activity::working("before its bot connected"));
        assert_eq!(chat.calls.calls().len(), 2, "vox's bot is not connected");
        p.connected("vox", chat.clone());
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(
            chat.calls.calls()[2],
            "presence working: before its bot connected",
            "a bot shows what root said before it connected"
        );
    }
}
