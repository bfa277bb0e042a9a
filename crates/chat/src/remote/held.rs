//! Places in line held for answers that come later. A message whose daemon went away
//! after taking it is answered by a delivery; until that delivery is shown, the
//! conversation's later answers wait, so the room reads in the order it asked. A delivery
//! can come while the message's own task still waits its turn to show what it had: it
//! waits for that task to settle first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::line::{Link, Pending};

/// A delivery that never comes (the daemon lost its state) holds its line no longer.
const HOLD: Duration = Duration::from_secs(3600);

enum Slot {
    /// The message's task still runs: it may yet hold its place.
    Running,
    /// The task ended interrupted: its place waits for the delivery.
    Held(Link),
}

#[derive(Default)]
struct Inner {
    slots: HashMap<String, (u64, Slot)>,
    next: u64,
}

#[derive(Default, Clone)]
pub struct Held {
    inner: Arc<Mutex<Inner>>,
    settled: Arc<Notify>,
}

impl Held {
    /// A message's task starts: a delivery for it waits until the task settles.
    pub fn pending(&self, event: &str) -> Pending {
        let generation = {
            let mut i = self.inner.lock().expect("lock");
            i.next += 1;
            let g = i.next;
            i.slots.insert(event.to_string(), (g, Slot::Running));
            g
        };
        let (me, event) = (self.clone(), event.to_string());
        Pending::new(move |line| me.settle(&event, generation, line))
    }

    /// The task ended: with its place to hold for a delivery, or with none.
    fn settle(&self, event: &str, generation: u64, line: Option<Link>) {
        let mut i = self.inner.lock().expect("lock");
        if i.slots.get(event).is_none_or(|(g, _)| *g != generation) {
            return;
        }
        match line {
            None => {
                i.slots.remove(event);
            }
            Some(l) => {
                tracing::debug!(%event, "its answer comes as a delivery: later answers wait for it");
                i.slots
                    .insert(event.to_string(), (generation, Slot::Held(l)));
                let (inner, event) = (self.inner.clone(), event.to_string());
                tokio::spawn(async move {
                    tokio::time::sleep(HOLD).await;
                    let mut i = inner.lock().expect("lock");
                    if i.slots.get(&event).is_some_and(|(g, _)| *g == generation) {
                        tracing::warn!(%event, "no answer came for a message in {HOLD:?}: later answers go on");
                        i.slots.remove(&event);
                    }
                });
            }
        }
        self.settled.notify_waiters();
    }

    /// The line of a delivery that answers `events` (in order): after the messages before
    /// them, and letting later ones go once the returned link is dropped.
    pub async fn take(&self, events: &[String]) -> Link {
        let mut links = Vec::new();
        for e in events {
            loop {
                let settled = {
                    let mut i = self.inner.lock().expect("lock");
                    if !matches!(i.slots.get(e), Some((_, Slot::Running))) {
                        if let Some((_, Slot::Held(l))) = i.slots.remove(e) {
                            links.push(l);
                        }
                        break;
                    }
                    // Made under the lock: a settling after it is not missed.
                    self.settled.notified()
                };
                settled.await;
            }
        }
        Link::spanning(links)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::Line;

    async fn goes(p: &mut Link) -> bool {
        tokio::time::timeout(Duration::from_millis(20), p.wait())
            .await
            .is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_place_lets_the_next_go_once_its_delivery_is_shown() {
        let (held, mut line) = (Held::default(), Line::default());
        let (mut a, mut b, mut c) = (line.place("c"), line.place("c"), line.place("c"));
        // a and b were interrupted; c's answer streams live.
        held.pending("$a").hold(std::mem::take(&mut a.post));
        held.pending("$b").hold(std::mem::take(&mut b.post));
        assert!(!goes(&mut c.post).await, "c went before a and b were shown");
        let mut both = held.take(&["$a".into(), "$b".into()]).await;
        assert!(goes(&mut both).await, "a waits for nothing before it");
        assert!(!goes(&mut c.post).await, "c went while a and b were shown");
        drop(both);
        assert!(goes(&mut c.post).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_delivery_quicker_than_its_asker_waits_for_it_to_settle() {
        let (held, mut line) = (Held::default(), Line::default());
        let (mut a, mut b) = (line.place("c"), line.place("c"));
        let pending = held.pending("$a");
        let delivery = tokio::spawn({
            let held = held.clone();
            async move { held.take(&["$a".into()]).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!delivery.is_finished(), "took a's place before a settled");
        pending.hold(std::mem::take(&mut a.post));
        let mut line_of_a = delivery.await.unwrap();
        assert!(
            !goes(&mut b.post).await,
            "b went before a's delivery was shown"
        );
        line_of_a.wait().await;
        drop(line_of_a);
        assert!(goes(&mut b.post).await);
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ends_answered_holds_nothing_and_none_holds_forever() {
        let (held, mut line) = (Held::default(), Line::default());
        drop(held.pending("$a"));
        held.take(&["$a".into()]).await;

        let (mut x, mut y) = (line.place("d"), line.place("d"));
        held.pending("$x").hold(std::mem::take(&mut x.post));
        assert!(!goes(&mut y.post).await);
        tokio::time::sleep(HOLD + Duration::from_secs(1)).await;
        assert!(goes(&mut y.post).await, "held past HOLD");
    }
}
