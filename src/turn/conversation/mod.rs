//! A conversation's order, as one persisted state. Messages arrive; the first runs at once
//! and what comes while its turn runs waits, to be gathered into the next turn in order;
//! a turn's end takes the next batch; a restart runs the interrupted turn again, ahead of
//! what waited. `state` decides (pure, table-tested); `kept` holds it on disk for the
//! daemon, whose turns are the actor.

mod disk;
mod kept;
mod state;
#[cfg(test)]
mod tests;

pub use kept::Conversations;
pub use state::{Arrival, Batch, Key, Lanes, MAX_WAITING, MAX_WAITING_CHARS, Message, prompt};

use serde::{Deserialize, Serialize};

use crate::hall::Reply;

/// A message from a room, as kept on disk until its turn ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiting {
    pub sender: String,
    pub prompt: String,
    pub reply: Reply,
    /// Its turn was running when the daemon stopped: it is given again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub again: bool,
    /// What sent it when no one did (a schedule): said above its answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub came: Option<crate::hall::Came>,
}

impl Waiting {
    /// A message no one in the room sent (a schedule's, a town event's): posted in `room`,
    /// answering no event, headed by what `came`.
    pub fn unasked(sender: String, prompt: String, room: String, came: crate::hall::Came) -> Self {
        Self {
            sender,
            prompt,
            reply: Reply {
                room,
                thread: None,
                event: String::new(),
            },
            again: false,
            came: Some(came),
        }
    }
}
