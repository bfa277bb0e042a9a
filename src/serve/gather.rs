//! No message turned away. While a conversation's turn runs, whatever else the chat sends
//! for that conversation waits here. When the turn ends they all go, in order, into the
//! conversation's next turn as one prompt, the way an interactive agent CLI takes what was
//! typed while it was busy. Both the running turn's messages and the waiting ones are saved
//! to disk: after a restart the interrupted turn runs again, ahead of what waited.

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
    /// Its turn was running when the daemon stopped: it is given again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub again: bool,
}

/// A message, and the chat connection that asked (None once the daemon restarted).
pub type Asked = (Waiting, Option<mpsc::Sender<Said>>);

#[derive(Default)]
struct Lane {
    running: bool,
    /// The messages the running turn took (kept until it ends).
    taken: Vec<Waiting>,
    waiting: Vec<Asked>,
}

type Key = (String, String);

/// One conversation on disk.
#[derive(Serialize, Deserialize)]
struct Saved {
    resident: String,
    conversation: String,
    #[serde(default)]
    running: Vec<Waiting>,
    #[serde(default)]
    waiting: Vec<Waiting>,
}

/// waiting.json now, or as written before the running turn was saved too. The old form
/// is tried first: serde would read its arrays as `Saved` too.
#[derive(Deserialize)]
#[serde(untagged)]
enum OnDisk {
    Before(Vec<(String, String, Vec<Waiting>)>),
    Now(Vec<Saved>),
}

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
    let text = batch
        .iter()
        .map(|(w, _)| w.prompt.trim_end())
        .collect::<Vec<_>>()
        .join("\n\n");
    match batch.iter().filter(|(w, _)| w.again).count() {
        0 => text,
        n => format!(
            "(townhall restarted while your turn on the first {n} message(s) below ran; they are given again)\n\n{text}"
        ),
    }
}

impl Gathering {
    pub fn new(state: &std::path::Path) -> Result<Self, OsError> {
        let path = state.join("waiting.json");
        let help = "it holds messages waiting for a turn; move it away and they are lost";
        let saved = match crate::os::read_state::<OnDisk>(&path, help)? {
            None => vec![],
            Some(OnDisk::Now(s)) => s,
            Some(OnDisk::Before(s)) => s
                .into_iter()
                .map(|(resident, conversation, waiting)| Saved {
                    resident,
                    conversation,
                    running: vec![],
                    waiting,
                })
                .collect(),
        };
        // Each saved conversation stays busy until `leftover` drains it: a message arriving
        // before then waits behind the saved ones.
        let lanes = saved
            .into_iter()
            .map(|s| {
                let again = s.running.into_iter().map(|w| Waiting { again: true, ..w });
                let waiting = again.chain(s.waiting).map(|w| (w, None)).collect();
                (
                    (s.resident, s.conversation),
                    Lane {
                        running: true,
                        taken: vec![],
                        waiting,
                    },
                )
            })
            .collect();
        Ok(Self {
            path,
            lanes: Mutex::new(lanes),
        })
    }

    fn save(&self, lanes: &BTreeMap<Key, Lane>) {
        let saved: Vec<Saved> = lanes
            .iter()
            .filter(|(_, l)| !l.waiting.is_empty() || !l.taken.is_empty())
            .map(|((r, c), l)| Saved {
                resident: r.clone(),
                conversation: c.clone(),
                running: l.taken.clone(),
                waiting: l.waiting.iter().map(|(w, _)| w.clone()).collect(),
            })
            .collect();
        if let Err(e) = crate::os::write_state(&self.path, &saved) {
            tracing::warn!("{e}");
        }
    }

    /// A message for a conversation: run now, kept behind the running turn (with `out`,
    /// where its answer goes should it lead the next batch), or refused (Err: the notice).
    /// Either way it is on disk before this returns.
    pub fn arrive(
        &self,
        resident: &str,
        conversation: &str,
        w: Waiting,
        out: mpsc::Sender<Said>,
    ) -> Result<Arrival, (String, mpsc::Sender<Said>)> {
        let mut lanes = self.lanes.lock().expect("lock");
        let lane = lanes
            .entry((resident.into(), conversation.into()))
            .or_default();
        if !lane.running {
            lane.running = true;
            lane.taken = vec![w];
            self.save(&lanes);
            return Ok(Arrival::RunNow);
        }
        let chars: usize = lane
            .waiting
            .iter()
            .map(|(w, _)| w.prompt.chars().count())
            .sum();
        if lane.waiting.len() >= MAX_WAITING || chars + w.prompt.chars().count() > MAX_WAITING_CHARS
        {
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

    /// The conversation's turn ended: everything that waited, now taken by the next turn,
    /// or None (the lane is idle).
    pub fn next(&self, resident: &str, conversation: &str) -> Option<Vec<Asked>> {
        let mut lanes = self.lanes.lock().expect("lock");
        let key = (resident.to_string(), conversation.to_string());
        let lane = lanes.get_mut(&key)?;
        if lane.waiting.is_empty() {
            lanes.remove(&key);
            self.save(&lanes);
            return None;
        }
        let batch = std::mem::take(&mut lane.waiting);
        lane.taken = batch.iter().map(|(w, _)| w.clone()).collect();
        self.save(&lanes);
        Some(batch)
    }

    /// Conversations saved across a restart, not yet drained: whoever asked runs them.
    pub fn leftover(&self) -> Vec<Key> {
        let lanes = self.lanes.lock().expect("lock");
        lanes
            .iter()
            .filter(|(_, l)| l.running && l.taken.is_empty() && !l.waiting.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// How many messages wait, per resident (for status).
    pub fn waiting(&self, resident: &str) -> usize {
        self.lanes
            .lock()
            .expect("lock")
            .iter()
            .filter(|((r, _), _)| r == resident)
            .map(|(_, l)| l.waiting.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> Waiting {
        Waiting {
            sender: "@mayor:t".into(),
            prompt: text.into(),
            reply: Reply {
                room: "!r:t".into(),
                thread: None,
                event: format!("${text}"),
            },
            again: false,
        }
    }

    #[test]
    fn messages_behind_a_turn_are_kept_in_order_and_gathered_into_one_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let g = Gathering::new(dir.path()).unwrap();
        let (tx, _rx) = mpsc::channel(4);
        assert!(matches!(
            g.arrive("ada", "!r:t", msg("first"), tx.clone()),
            Ok(Arrival::RunNow)
        ));
        assert!(matches!(
            g.arrive("ada", "!r:t", msg("second"), tx.clone()),
            Ok(Arrival::Kept(1))
        ));
        assert!(matches!(
            g.arrive("ada", "!r:t", msg("third"), tx.clone()),
            Ok(Arrival::Kept(2))
        ));
        assert!(
            matches!(
                g.arrive("ada", "!other:t", msg("elsewhere"), tx.clone()),
                Ok(Arrival::RunNow)
            ),
            "another conversation runs"
        );
        let batch = g.next("ada", "!r:t").unwrap();
        assert_eq!(prompt(&batch), "second\n\nthird");
        assert!(g.next("ada", "!r:t").is_none(), "then the lane is idle");
        assert!(g.next("ada", "!other:t").is_none());
        assert!(matches!(
            g.arrive("ada", "!r:t", msg("later"), tx),
            Ok(Arrival::RunNow)
        ));
        assert!(g.next("ada", "!r:t").is_none());
        assert!(
            Gathering::new(dir.path()).unwrap().leftover().is_empty(),
            "nothing is left on disk"
        );
    }

    #[test]
    fn a_restart_runs_the_interrupted_turn_again_ahead_of_what_waited() {
        let dir = tempfile::tempdir().unwrap();
        let g = Gathering::new(dir.path()).unwrap();
        let (tx, _rx) = mpsc::channel(4);
        assert!(matches!(
            g.arrive("ada", "c", msg("first"), tx.clone()),
            Ok(Arrival::RunNow)
        ));
        assert!(matches!(
            g.arrive("ada", "c", msg("second"), tx.clone()),
            Ok(Arrival::Kept(1))
        ));
        drop(g); // the daemon stops while "first" runs
        let g = Gathering::new(dir.path()).unwrap();
        // A message that comes before the saved ones are drained waits behind them.
        assert!(matches!(
            g.arrive("ada", "c", msg("third"), tx.clone()),
            Ok(Arrival::Kept(3))
        ));
        assert_eq!(g.leftover(), [("ada".to_string(), "c".to_string())]);
        let batch = g.next("ada", "c").unwrap();
        assert!(g.leftover().is_empty(), "drained once");
        let p = prompt(&batch);
        assert!(
            p.starts_with("(townhall restarted while your turn on the first 1 message(s)"),
            "{p}"
        );
        assert!(p.ends_with("first\n\nsecond\n\nthird"), "{p}");
        // Stopped again mid-turn: the same three are given again.
        let g = Gathering::new(dir.path()).unwrap();
        let again = g.next("ada", "c").unwrap();
        assert_eq!(
            again
                .iter()
                .map(|(w, _)| (w.prompt.as_str(), w.again))
                .collect::<Vec<_>>(),
            [("first", true), ("second", true), ("third", true)]
        );
    }

    #[test]
    fn waiting_saved_by_the_earlier_version_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let old = serde_json::json!([["ada", "c", [{"sender": "@mayor:t", "prompt": "kept", "reply": {"room": "!r:t", "thread": null, "event": "$e"}}]]]);
        std::fs::write(dir.path().join("waiting.json"), old.to_string()).unwrap();
        let g = Gathering::new(dir.path()).unwrap();
        assert_eq!(prompt(&g.next("ada", "c").unwrap()), "kept");
    }

    #[test]
    fn a_flood_is_refused_with_a_notice_past_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let g = Gathering::new(dir.path()).unwrap();
        let (tx, _rx) = mpsc::channel(4);
        assert!(matches!(
            g.arrive("ada", "c", msg("run"), tx.clone()),
            Ok(Arrival::RunNow)
        ));
        for i in 0..MAX_WAITING {
            assert!(
                g.arrive("ada", "c", msg(&i.to_string()), tx.clone())
                    .is_ok()
            );
        }
        let Err((notice, _)) = g.arrive("ada", "c", msg("one too many"), tx.clone()) else {
            panic!("kept past the cap")
        };
        assert!(notice.contains("not kept"), "{notice}");
        let g = Gathering::new(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(matches!(
            g.arrive("ada", "c", msg("run"), tx.clone()),
            Ok(Arrival::RunNow)
        ));
        let big = "x".repeat(MAX_WAITING_CHARS + 1);
        assert!(
            g.arrive("ada", "c", msg(&big), tx).is_err(),
            "too many characters"
        );
    }
}
