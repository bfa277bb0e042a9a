//! The pure state of every conversation: which one runs a turn, what that turn took, and
//! what waits behind it. Each transition returns what the actor must do; nothing here
//! touches a clock, a disk or a socket. `T` is whoever asked (a channel to answer on); it
//! is never saved, so messages read back after a restart have none.

use std::collections::BTreeMap;

use super::Waiting;
use super::disk::{Parked, Saved};

/// Backoff of a limit that says no reset time: 5 minutes, doubling, at most an hour.
const BACKOFF_FIRST: u64 = 5 * 60;
const BACKOFF_MAX: u64 = 60 * 60;

/// Against floods: more than this waiting in one conversation is refused with a notice.
pub const MAX_WAITING: usize = 100;
pub const MAX_WAITING_CHARS: usize = 10_000;

/// (resident, conversation).
pub type Key = (String, String);

/// One message for a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// From a room: gathered with the others that waited, and kept across a restart.
    Chat(Waiting),
    /// From root's CLI: a turn of its own whose answer only its caller reads, so it is
    /// never gathered and not kept across a restart (nobody would read it).
    Cli { prompt: String, fresh: bool },
}

impl Message {
    fn prompt(&self) -> &str {
        match self {
            Message::Chat(w) => &w.prompt,
            Message::Cli { prompt, .. } => prompt,
        }
    }
}

/// The messages one turn takes, each with whoever asked (None after a restart).
#[derive(Debug)]
pub enum Batch<T> {
    /// The room's messages that waited, in order, as one turn.
    Room(Vec<(Waiting, Option<T>)>),
    /// One turn of root's CLI.
    Cli {
        prompt: String,
        fresh: bool,
        asker: Option<T>,
    },
}

/// What became of an arriving message.
#[derive(Debug)]
pub enum Arrival<T> {
    /// The conversation was idle: run this batch (the message alone) now.
    Run(Batch<T>),
    /// Kept behind the running turn; this many wait now, this one included.
    Kept(usize),
    /// Not kept (a flood): the notice, and the asker to tell.
    Refused(String, T),
}

#[derive(Debug)]
enum Turn {
    /// A turn runs, on these messages of the room's (kept until it ends).
    Running(Vec<Waiting>),
    /// Read back after a restart: busy until `resume` hands out what was saved.
    Resuming,
    /// A usage limit holds it: its messages wait (with any that come) until `unpark`.
    Parked(Parked),
}

#[derive(Debug)]
struct Lane<T> {
    turn: Turn,
    waiting: Vec<(Message, Option<T>)>,
    /// Times in a row its turns were parked (reset by a turn that ends otherwise).
    parks: u32,
}

/// Every busy conversation; an idle one has no lane.
#[derive(Debug)]
pub struct Lanes<T> {
    lanes: BTreeMap<Key, Lane<T>>,
}

impl<T> Default for Lanes<T> {
    fn default() -> Self {
        Self {
            lanes: BTreeMap::new(),
        }
    }
}

/// The prompt of the room's batch: the messages in order, a blank line apart.
pub fn prompt<T>(batch: &[(Waiting, Option<T>)]) -> String {
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

/// The next turn from the front of `waiting`: a CLI message alone, else the room's
/// messages up to the next CLI one. None when nothing waits.
fn take<T>(waiting: &mut Vec<(Message, Option<T>)>) -> Option<Batch<T>> {
    let mut room = vec![];
    let mut rest = std::mem::take(waiting).into_iter();
    while let Some((m, asker)) = rest.next() {
        match m {
            Message::Chat(w) => room.push((w, asker)),
            Message::Cli { prompt, fresh } if room.is_empty() => {
                *waiting = rest.collect();
                return Some(Batch::Cli {
                    prompt,
                    fresh,
                    asker,
                });
            }
            cli => {
                *waiting = std::iter::once((cli, asker)).chain(rest).collect();
                break;
            }
        }
    }
    (!room.is_empty()).then_some(Batch::Room(room))
}

/// What a restart must give again of the turn that runs `batch`.
fn running<T>(batch: &Batch<T>) -> Turn {
    match batch {
        Batch::Room(b) => Turn::Running(b.iter().map(|(w, _)| w.clone()).collect()),
        Batch::Cli { .. } => Turn::Running(vec![]),
    }
}

impl<T> Lanes<T> {
    /// A message for a conversation: run now, kept behind the running turn, or refused.
    pub fn arrive(&mut self, key: Key, message: Message, asker: T) -> Arrival<T> {
        let Some(lane) = self.lanes.get_mut(&key) else {
            let batch = match message {
                Message::Chat(w) => Batch::Room(vec![(w, Some(asker))]),
                Message::Cli { prompt, fresh } => Batch::Cli {
                    prompt,
                    fresh,
                    asker: Some(asker),
                },
            };
            let lane = Lane {
                turn: running(&batch),
                waiting: vec![],
                parks: 0,
            };
            self.lanes.insert(key, lane);
            return Arrival::Run(batch);
        };
        let chars: usize = lane
            .waiting
            .iter()
            .map(|(m, _)| m.prompt().chars().count())
            .sum();
        let too_many = lane.waiting.len() >= MAX_WAITING
            || chars + message.prompt().chars().count() > MAX_WAITING_CHARS;
        if too_many {
            let notice = format!(
                "{} message(s) ({chars} characters) already wait for {} in this conversation, the most it keeps: this one was not kept. Send it again once the answer is here.",
                lane.waiting.len(),
                key.0
            );
            return Arrival::Refused(notice, asker);
        }
        lane.waiting.push((message, Some(asker)));
        Arrival::Kept(lane.waiting.len())
    }

    /// A message that runs only when the conversation is idle: its batch (no one to
    /// answer but the room), or None when a turn runs there.
    pub fn arrive_idle(&mut self, key: Key, message: Message) -> Option<Batch<T>> {
        if self.lanes.contains_key(&key) {
            return None;
        }
        let batch = match message {
            Message::Chat(w) => Batch::Room(vec![(w, None)]),
            Message::Cli { prompt, fresh } => Batch::Cli {
                prompt,
                fresh,
                asker: None,
            },
        };
        let lane = Lane {
            turn: running(&batch),
            waiting: vec![],
            parks: 0,
        };
        self.lanes.insert(key, lane);
        Some(batch)
    }

    /// A message no one waits on (a town event's): its batch when the conversation is
    /// idle, else None and it waits behind the running turn (dropped past the cap).
    pub fn arrive_unasked(&mut self, key: Key, message: Message) -> Option<Batch<T>> {
        if let Some(lane) = self.lanes.get_mut(&key) {
            if lane.waiting.len() < MAX_WAITING {
                lane.waiting.push((message, None));
            }
            return None;
        }
        self.arrive_idle(key, message)
    }

    /// The conversation's turn ended: the next batch, or None (it is idle now).
    pub fn ended(&mut self, key: &Key) -> Option<Batch<T>> {
        let lane = self.lanes.get_mut(key)?;
        lane.parks = 0;
        let Some(batch) = take(&mut lane.waiting) else {
            self.lanes.remove(key);
            return None;
        };
        lane.turn = running(&batch);
        Some(batch)
    }

    /// The conversation's turn hit a usage limit: its messages go back to the front, to
    /// run again (with any that come meanwhile) at `until`, or after a backoff when the
    /// limit said no time. When it wakes, in Unix seconds.
    pub fn park(&mut self, key: &Key, until: Option<u64>, now: u64) -> Option<u64> {
        let lane = self.lanes.get_mut(key)?;
        if !matches!(lane.turn, Turn::Running(_)) {
            return None;
        }
        let Turn::Running(taken) = std::mem::replace(&mut lane.turn, Turn::Resuming) else {
            return None;
        };
        let backoff = BACKOFF_FIRST
            .saturating_mul(1 << lane.parks.min(10))
            .min(BACKOFF_MAX);
        let until = until.unwrap_or(now + backoff);
        lane.parks += 1;
        // Its answer, when it comes, says it waited (a schedule's or an event's says that).
        let back = taken.into_iter().map(|mut w| {
            w.came.get_or_insert(crate::hall::Came::Resumed);
            (Message::Chat(w), None)
        });
        lane.waiting = back.chain(std::mem::take(&mut lane.waiting)).collect();
        lane.turn = Turn::Parked(Parked {
            until,
            times: lane.parks,
        });
        Some(until)
    }

    /// Wake a parked conversation: its next batch, to run now (None when not parked).
    pub fn unpark(&mut self, key: &Key) -> Option<Batch<T>> {
        let lane = self.lanes.get_mut(key)?;
        if !matches!(lane.turn, Turn::Parked(_)) {
            return None;
        }
        let Some(batch) = take(&mut lane.waiting) else {
            self.lanes.remove(key);
            return None;
        };
        lane.turn = running(&batch);
        Some(batch)
    }

    /// The parked conversations, with when each wakes.
    pub fn parked(&self) -> Vec<(Key, u64)> {
        self.lanes
            .iter()
            .filter_map(|(k, l)| match l.turn {
                Turn::Parked(p) => Some((k.clone(), p.until)),
                _ => None,
            })
            .collect()
    }

    /// Wake `resident`'s parked conversations at the next look (`!resume`): how many.
    pub fn wake_now(&mut self, resident: &str) -> usize {
        let mut n = 0;
        for ((r, _), l) in self.lanes.iter_mut() {
            if let (true, Turn::Parked(p)) = (r == resident, &mut l.turn) {
                p.until = 0;
                n += 1;
            }
        }
        n
    }

    /// Forget `resident`'s parked conversations and their messages (`!stop`): how many
    /// conversations.
    pub fn cancel_parked(&mut self, resident: &str) -> usize {
        let parked: Vec<Key> = self
            .parked()
            .into_iter()
            .map(|(k, _)| k)
            .filter(|(r, _)| r == resident)
            .collect();
        parked
            .iter()
            .filter(|k| self.lanes.remove(*k).is_some())
            .count()
    }

    /// After a restart: each saved conversation's first batch, to run now.
    pub fn resume(&mut self) -> Vec<(Key, Batch<T>)> {
        let resuming: Vec<Key> = self
            .lanes
            .iter()
            .filter(|(_, l)| matches!(l.turn, Turn::Resuming))
            .map(|(k, _)| k.clone())
            .collect();
        resuming
            .into_iter()
            .filter_map(|k| Some((k.clone(), self.ended(&k)?)))
            .collect()
    }

    /// How many messages wait, per resident (for status).
    pub fn waiting(&self, resident: &str) -> usize {
        self.lanes
            .iter()
            .filter(|((r, _), _)| r == resident)
            .map(|(_, l)| l.waiting.len())
            .sum()
    }

    /// What a restart must find: the room's messages of each busy conversation.
    pub fn saved(&self) -> Vec<Saved> {
        let chat = |m: &Message| match m {
            Message::Chat(w) => Some(w.clone()),
            Message::Cli { .. } => None,
        };
        self.lanes
            .iter()
            .map(|((r, c), l)| Saved {
                resident: r.clone(),
                conversation: c.clone(),
                running: match &l.turn {
                    Turn::Running(taken) => taken.clone(),
                    Turn::Resuming | Turn::Parked(_) => vec![],
                },
                waiting: l.waiting.iter().filter_map(|(m, _)| chat(m)).collect(),
                parked: match l.turn {
                    Turn::Parked(p) => Some(p),
                    _ => None,
                },
            })
            .filter(|s| !s.running.is_empty() || !s.waiting.is_empty())
            .collect()
    }

    /// The state a restart starts from: each saved conversation busy until `resume`, its
    /// interrupted turn's messages (marked `again`) ahead of those that waited; a parked
    /// one stays parked until its time.
    pub fn restarted(saved: Vec<Saved>) -> Self {
        let lanes = saved
            .into_iter()
            .map(|s| {
                let again = s.running.into_iter().map(|w| Waiting { again: true, ..w });
                let waiting = again
                    .chain(s.waiting)
                    .map(|w| (Message::Chat(w), None))
                    .collect();
                let lane = Lane {
                    turn: s.parked.map_or(Turn::Resuming, Turn::Parked),
                    waiting,
                    parks: s.parked.map_or(0, |p| p.times),
                };
                ((s.resident, s.conversation), lane)
            })
            .collect();
        Self { lanes }
    }
}
