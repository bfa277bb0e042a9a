//! No message turned away. While a conversation's turn runs, whatever else the chat sends
//! for that conversation waits here. The waiting messages are saved to disk, so a restart
//! keeps them. When the turn ends they all go, in order, into the conversation's next turn
//! as one prompt, the way an interactive agent CLI takes what was typed while it was busy.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::hall::{Reply, Said};
use crate::os::OsError;

/// Against floods: more than this waiting in one conversation is refused with a notice.
pub const MAX_WAITING: usize = 100;
pub const MAX_WAITING_CHARS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiting {
    pub sender: String,
    pub prompt: String,
    pub reply: Reply,
}

/// A message, and the chat connection that asked (None once the daemon restarted).
pub type Asked = (Waiting, Option<mpsc::Sender<Said>>);

#[derive(Default)]
struct Lane {
    running: bool,
    waiting: Vec<Asked>,
}

type Key = (String, String);

pub struct Gathering {
    path: PathBuf,
    lanes: Mutex<BTreeMap<Key, Lane>>,
}

pub enum Arrival {
    /// The conversation was idle: run this message now.
    RunNow,
    /// Kept; this many wait now, this one included.
    Kept(usize),
}

/// The prompt of a batch: the messages in order, a blank line apart.
pub fn prompt(batch: &[Asked]) -> String {
    batch.iter().map(|(w, _)| w.prompt.trim_end()).collect::<Vec<_>>().join("\n\n")
}

impl Gathering {
    pub fn new(state: &std::path::Path) -> Result<Self, OsError> {
        let path = state.join("waiting.json");
        let help = "it holds messages waiting for a turn; move it away and they are lost";
        let saved: Vec<(String, String, Vec<Waiting>)> = crate::os::read_state(&path, help)?.unwrap_or_default();
        let lanes = saved
            .into_iter()
            .map(|(r, c, w)| ((r, c), Lane { running: false, waiting: w.into_iter().map(|w| (w, None)).collect() }))
            .collect();
        Ok(Self { path, lanes: Mutex::new(lanes) })
    }

    fn save(&self, lanes: &BTreeMap<Key, Lane>) {
        let saved: Vec<(&String, &String, Vec<&Waiting>)> =
            lanes.iter().filter(|(_, l)| !l.waiting.is_empty()).map(|((r, c), l)| (r, c, l.waiting.iter().map(|(w, _)| w).collect())).collect();
        if let Err(e) = crate::os::write_state(&self.path, &saved) {
            tracing::warn!("{e}");
        }
    }

    /// A message for a conversation: run now, kept behind the running turn (with `out`,
    /// where its answer goes should it lead the next batch), or refused (Err: the notice).
    pub fn arrive(&self, resident: &str, conversation: &str, w: Waiting, out: mpsc::Sender<Said>) -> Result<Arrival, (String, mpsc::Sender<Said>)> {
        let mut lanes = self.lanes.lock().expect("lock");
        let lane = lanes.entry((resident.into(), conversation.into())).or_default();
        if !lane.running {
            lane.running = true;
            return Ok(Arrival::RunNow);
        }
        let chars: usize = lane.waiting.iter().map(|(w, _)| w.prompt.chars().count()).sum();
        if lane.waiting.len() >= MAX_WAITING || chars + w.prompt.chars().count() > MAX_WAITING_CHARS {
            let notice = format!(
                "{} message(s) ({chars} characters) already wait for {resident} in this conversation, the most it keeps: this one was not kept. Send it again once the answer is here.",
                lane.waiting.len()
            );
            return Err((notice, out));
        }
        lane.waiting.push((w, Some(out)));
        let n = lane.waiting.len();
        self.save(&lanes);
        Ok(Arrival::Kept(n))
    }

    /// The conversation's turn ended: everything that waited, or None (the lane is idle).
    pub fn next(&self, resident: &str, conversation: &str) -> Option<Vec<Asked>> {
        let mut lanes = self.lanes.lock().expect("lock");
        let key = (resident.to_string(), conversation.to_string());
        let lane = lanes.get_mut(&key)?;
        if lane.waiting.is_empty() {
            lanes.remove(&key);
            return None;
        }
        let batch = std::mem::take(&mut lane.waiting);
        self.save(&lanes);
        Some(batch)
    }

    /// Conversations whose messages waited across a restart; each is marked running, to be
    /// drained by whoever asked.
    pub fn leftover(&self) -> Vec<Key> {
        let mut lanes = self.lanes.lock().expect("lock");
        lanes.iter_mut().filter(|(_, l)| !l.running && !l.waiting.is_empty()).map(|(k, l)| {
            l.running = true;
            k.clone()
        }).collect()
    }

    /// How many messages wait, per resident (for status).
    pub fn waiting(&self, resident: &str) -> usize {
        self.lanes.lock().expect("lock").iter().filter(|((r, _), _)| r == resident).map(|(_, l)| l.waiting.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> Waiting {
        Waiting { sender: "@mayor:t".into(), prompt: text.into(), reply: Reply { room: "!r:t".into(), thread: None, event: format!("${text}") } }
    }

    #[test]
    fn messages_behind_a_turn_are_kept_in_order_and_gathered_into_one_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let g = Gathering::new(dir.path()).unwrap();
        let (tx, _rx) = mpsc::channel(4);
        assert!(matches!(g.arrive("ada", "!r:t", msg("first"), tx.clone()), Ok(Arrival::RunNow)));
        assert!(matches!(g.arrive("ada", "!r:t", msg("second"), tx.clone()), Ok(Arrival::Kept(1))));
        assert!(matches!(g.arrive("ada", "!r:t", msg("third"), tx.clone()), Ok(Arrival::Kept(2))));
        assert!(matches!(g.arrive("ada", "!other:t", msg("elsewhere"), tx.clone()), Ok(Arrival::RunNow)), "another conversation runs");
        // A restart keeps what waits.
        let again = Gathering::new(dir.path()).unwrap();
        assert_eq!(again.leftover(), [("ada".to_string(), "!r:t".to_string())]);
        let batch = g.next("ada", "!r:t").unwrap();
        assert_eq!(prompt(&batch), "second\n\nthird");
        assert!(g.next("ada", "!r:t").is_none(), "then the lane is idle");
        assert!(matches!(g.arrive("ada", "!r:t", msg("later"), tx), Ok(Arrival::RunNow)));
        assert!(Gathering::new(dir.path()).unwrap().leftover().is_empty(), "nothing waits on disk");
    }

    #[test]
    fn a_flood_is_refused_with_a_notice_past_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let g = Gathering::new(dir.path()).unwrap();
        let (tx, _rx) = mpsc::channel(4);
        assert!(matches!(g.arrive("ada", "c", msg("run"), tx.clone()), Ok(Arrival::RunNow)));
        for i in 0..MAX_WAITING {
            assert!(g.arrive("ada", "c", msg(&i.to_string()), tx.clone()).is_ok());
        }
        let Err((notice, _)) = g.arrive("ada", "c", msg("one too many"), tx.clone()) else { panic!("kept past the cap") };
        assert!(notice.contains("not kept"), "{notice}");
        let g = Gathering::new(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(matches!(g.arrive("ada", "c", msg("run"), tx.clone()), Ok(Arrival::RunNow)));
        let big = "x".repeat(MAX_WAITING_CHARS + 1);
        assert!(g.arrive("ada", "c", msg(&big), tx).is_err(), "too many characters");
    }
}
