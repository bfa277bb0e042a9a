//! Conversations a usage limit holds: a turn whose CLI said its provider's limit is
//! reached parks its conversation until the reset time it named (or a growing backoff);
//! the room is told when it goes on; what is sent meanwhile waits with it; a waker runs it
//! at that time, across restarts (the state is on disk); `!resume` runs it now and `!stop`
//! drops it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Daemon;
use crate::grant::Acls;
use crate::hall::Notice;
use crate::machine::Machine;
use crate::turn::conversation::Key;
use crate::turn::drivers::{Limit, limit, next_local};
use crate::units::UserManagers;

/// How often the waker looks at the parked conversations.
const LOOK_EVERY: Duration = Duration::from_secs(1);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// The usage limit a turn's words report (its errors, its answer, its stderr), by
    /// its resident's kind.
    pub(super) fn limited(&self, resident: &str, lines: Vec<String>) -> Option<Limit> {
        let kind = self.town().resident(resident)?.agent.kind;
        limit(kind, &lines, now(), &next_local)
    }

    /// Park the conversation whose turn hit `l`, and tell `room` when it goes on.
    pub(super) fn park(&self, key: &Key, l: Limit, room: String) {
        let now = now();
        let Some(until) = self.conversations.park(key, l.until, now) else {
            return;
        };
        let at = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(until));
        tracing::warn!(resident = %key.0, conversation = %key.1, %at, said = %l.said, "a usage limit parks the conversation");
        let parked = Notice::Parked {
            room,
            said: l.said,
            at: at.to_string(),
            in_secs: until.saturating_sub(now),
        };
        self.teller.tell(&key.0, parked);
    }

    /// Run each parked conversation when its time comes, for as long as the daemon runs.
    pub(super) async fn wake_parked(self: Arc<Self>) {
        loop {
            tokio::time::sleep(LOOK_EVERY).await;
            let now = now();
            for (key, until) in self.conversations.parked() {
                if until > now {
                    continue;
                }
                if let Some(batch) = self.conversations.unpark(&key) {
                    tracing::info!(resident = %key.0, conversation = %key.1, "a conversation a usage limit held goes on");
                    let d = self.clone();
                    tokio::spawn(async move { d.run_lane(&key, batch).await });
                }
            }
        }
    }
}
