//! What root says to the chat unasked (approval questions, notices, answers whose asker
//! went away, reloads), queued per resident and handed over in turn: one resident's flood
//! fills only its own queue and delays another's message by at most one of its own, so it
//! can neither delay nor drop what another resident's rooms are told.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::{Notify, mpsc};

use crate::hall::Said;

/// What one resident may have waiting for the chat at once.
const PER_RESIDENT: usize = 256;

#[derive(Default)]
struct Queues {
    by: BTreeMap<String, VecDeque<Said>>,
    /// Residents with something waiting, in the order they are served.
    turn: VecDeque<String>,
    /// Open subscriptions.
    subscribed: usize,
}

#[derive(Default)]
pub struct Outbox {
    queues: Mutex<Queues>,
    ready: Notify,
}

/// Whose queue a message goes in ("" for the town's own, a reload).
fn whose(said: &Said) -> &str {
    said.resident().unwrap_or("")
}

impl Outbox {
    /// Queue `said` for the chat; false when no chat is subscribed, or its resident has
    /// `PER_RESIDENT` messages waiting already.
    pub fn push(&self, said: Said) -> bool {
        let mut q = self.queues.lock().expect("lock");
        if q.subscribed == 0 {
            return false;
        }
        let key = whose(&said).to_string();
        let queue = q.by.entry(key.clone()).or_default();
        if queue.len() >= PER_RESIDENT {
            tracing::warn!(resident = %key, "{PER_RESIDENT} messages wait for the chat already: this one is dropped");
            return false;
        }
        queue.push_back(said);
        if queue.len() == 1 {
            q.turn.push_back(key);
        }
        drop(q);
        self.ready.notify_waiters();
        true
    }

    /// The next message, from the next resident in turn.
    fn pop(&self) -> Option<Said> {
        let mut q = self.queues.lock().expect("lock");
        let key = q.turn.pop_front()?;
        let queue = q.by.get_mut(&key)?;
        let said = queue.pop_front();
        if queue.is_empty() {
            q.by.remove(&key);
        } else {
            q.turn.push_back(key);
        }
        said
    }

    /// Put back what a subscription could not hand over, first in its resident's queue.
    fn unpop(&self, said: Said) {
        let mut q = self.queues.lock().expect("lock");
        let key = whose(&said).to_string();
        let queue = q.by.entry(key.clone()).or_default();
        queue.push_front(said);
        if queue.len() == 1 {
            q.turn.push_front(key);
        }
    }

    /// Subscriptions open now.
    pub fn subscribed(&self) -> usize {
        self.queues.lock().expect("lock").subscribed
    }

    /// A subscription opens: from now on messages are queued for it (before it is served,
    /// so nothing said while it catches up is lost).
    pub fn open(&self) {
        self.queues.lock().expect("lock").subscribed += 1;
    }

    /// An opened subscription: hand everything over as the chat reads it, until it goes.
    /// When it was the last, what it could not hand over is returned (the caller keeps the
    /// notices for the next chat).
    pub async fn serve(&self, out: &mpsc::Sender<Said>) -> Vec<Said> {
        loop {
            let woken = self.ready.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            while let Some(said) = self.pop() {
                if let Err(mpsc::error::SendError(said)) = out.send(said).await {
                    self.unpop(said);
                    break;
                }
            }
            if out.is_closed() {
                break;
            }
            tokio::select! {
                () = woken => {}
                () = out.closed() => break,
            }
        }
        let mut q = self.queues.lock().expect("lock");
        q.subscribed -= 1;
        if q.subscribed > 0 {
            return vec![];
        }
        // Nobody to hand it to: notices go back to the caller to keep, answers are kept as
        // deliveries anyway, and approvals waiting here are denied by their timeout.
        q.turn.clear();
        std::mem::take(&mut q.by).into_values().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hall::Notice;

    fn notice(resident: &str, n: u64) -> Said {
        Said::Notice {
            resident: resident.into(),
            notice: Notice::RoundBegan {
                round: n,
                lines: vec![],
            },
        }
    }

    #[tokio::test]
    async fn a_flood_from_one_resident_delays_anothers_by_one_message_at_most() {
        let outbox = std::sync::Arc::new(Outbox::default());
        assert!(!outbox.push(notice("ada", 0)), "no chat: not queued");
        let (tx, mut rx) = mpsc::channel(1);
        outbox.open();
        let serving = tokio::spawn({
            let o = outbox.clone();
            async move { o.serve(&tx).await }
        });
        for n in 1..=300 {
            outbox.push(notice("ada", n));
        }
        assert!(!outbox.push(notice("ada", 999)), "ada's queue is full");
        assert!(outbox.push(notice("vox", 1)), "vox's is not");
        let mut order = Vec::new();
        while order.len() < 6 {
            if let Some(Said::Notice { resident, .. }) = rx.recv().await {
                order.push(resident);
            }
        }
        let vox_at = order
            .iter()
            .position(|r| r == "vox")
            .expect("vox's notice came early");
        assert!(
            vox_at <= 3,
            "vox waited behind {vox_at} of ada's: {order:?}"
        );
        drop(rx);
        let left = serving.await.unwrap();
        assert!(
            left.len() > 200,
            "what was not handed over comes back: {}",
            left.len()
        );
    }
}
