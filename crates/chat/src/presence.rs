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

/// Per resident, the latest activity its bot's writer is to show.
#[derive(Default)]
pub struct Presences(Mutex<HashMap<String, watch::Sender<Activity>>>);

impl Presences {
    /// `resident`'s bot (re)connected as `chat`: it shows idle until root says otherwise,
    /// and the writer of an earlier connection ends.
    pub fn connected<C: Chat>(&self, resident: &str, chat: C) {
        let (tx, rx) = watch::channel(Activity::Idle);
        self.0.lock().expect("lock").insert(resident.into(), tx);
        tokio::spawn(writer(chat, resident.to_string(), rx));
    }

    /// `resident` now does `a` (ignored while its bot is not connected).
    pub fn set(&self, resident: &str, a: Activity) {
        if let Some(tx) = self.0.lock().expect("lock").get(resident) {
            tx.send_replace(a);
        }
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
        p.set("vox", Activity::Idle);
        assert_eq!(chat.calls.calls().len(), 2, "vox's bot is not connected");
    }
}
