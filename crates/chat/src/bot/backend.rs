//! What the bot needs from the supervisor: the `Backend` trait, the turn it asks for
//! (`TurnAsk`) and how that turn `Ended`.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::MatrixChat;
use crate::line::{Pending, Place};
use crate::policy::DeviceCommand;
use townhall_config::Town;
use townhall_wire::hall::{HallError, Refused, Reply};
use townhall_wire::hall::{Outcome, TurnEvent};

/// Why root did not run a turn, in root's words (a spent budget, a unit that could not
/// start, a hall that failed): said once under the answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct NotRun(pub String);

/// How a turn asked for ended.
pub enum Ended {
    /// Its answer is `delivery` until confirmed; `outcome` is Err when it could not run.
    Answered {
        delivery: u64,
        outcome: Box<Result<Outcome, NotRun>>,
    },
    /// The message waited and was answered together with an earlier one.
    Joined,
    /// The daemon went away after it took the message: the answer comes as a delivery.
    Interrupted,
}

/// What the bot needs from the supervisor (through the hall, hall.rs).
pub trait Backend: Send + Sync + 'static {
    fn town(&self) -> Arc<Town>;
    /// Where the residents' Matrix stores live.
    fn store(&self) -> std::path::PathBuf;
    /// Asks once the message's place says the conversation's earlier one was accepted, and
    /// lets the next one go once this one is.
    fn turn(
        &self,
        ask: TurnAsk,
        events: mpsc::Sender<TurnEvent>,
    ) -> impl Future<Output = Result<Ended, HallError>> + Send;
    /// The answer reached its room.
    fn delivered(&self, delivery: u64) -> impl Future<Output = ()> + Send;
    /// The answer could not be posted: root keeps it, and offers it again.
    fn not_posted(&self, _delivery: u64) {}
    /// A message's task starts: if it ends interrupted, its answer comes later as a
    /// delivery, and its place in the conversation's line waits for it.
    fn pending(&self, _event: &str) -> Pending {
        Pending::none()
    }
    fn stop(
        &self,
        resident: &str,
        sender: &str,
    ) -> impl Future<Output = Result<u32, HallError>> + Send;
    /// Run the resident's conversations parked by a usage limit now (`!resume`).
    fn resume(
        &self,
        resident: &str,
        sender: &str,
    ) -> impl Future<Output = Result<(), HallError>> + Send;
    fn forget_session(
        &self,
        resident: &str,
        sender: &str,
        conversation: &str,
    ) -> impl Future<Output = Result<(), HallError>> + Send;
    /// Markdown for `!status`.
    fn status_of(&self, resident: &str) -> impl Future<Output = String> + Send;
    /// Markdown for `!cost`, asked in `conversation`.
    fn cost_of(&self, resident: &str, conversation: &str) -> impl Future<Output = String> + Send;
    /// Markdown for `!session`, asked in `conversation`.
    fn session_of(&self, resident: &str, conversation: &str)
    -> impl Future<Output = String> + Send;
    /// Markdown for `!log n`.
    fn log_of(&self, resident: &str, lines: usize) -> impl Future<Output = String> + Send;
    /// Markdown for `!branches`.
    fn branches_of(&self, resident: &str) -> impl Future<Output = String> + Send;
    /// Markdown for `!network`, asked by `sender` (a mayor sees every resident's).
    fn network_of(&self, resident: &str, sender: &str) -> impl Future<Output = String> + Send;
    /// Markdown saying what ending the round would lose: `resident`'s alone, or the town's.
    fn reset_report(
        &self,
        by: &str,
        resident: Option<&str>,
    ) -> impl Future<Output = Result<String, HallError>> + Send;
    /// End the round (`resident`'s alone, or the town's); markdown describing the result.
    fn reset(
        &self,
        by: &str,
        resident: Option<&str>,
    ) -> impl Future<Output = Result<String, HallError>> + Send;
    /// Take a checkpoint of `resident`'s home; markdown saying so, or why not.
    fn checkpoint(
        &self,
        resident: &str,
        by: &str,
        label: &str,
    ) -> impl Future<Output = String> + Send;
    /// `resident`'s checkpoints, as the hall says them.
    fn checkpoints(
        &self,
        resident: &str,
    ) -> impl Future<Output = Result<Vec<townhall_wire::hall::CheckpointInfo>, HallError>> + Send;
    /// One request to root and its answer, for a command whose words the chat makes from
    /// it (`act`'s `answered` picks the answer it expects).
    fn call(
        &self,
        ask: townhall_wire::hall::Ask,
    ) -> impl Future<Output = Result<townhall_wire::hall::Said, HallError>> + Send;
    /// `!every`, `!schedules` or `!unschedule` (`ask`, for `resident`): markdown listing
    /// the resident's schedules after it, or why not.
    fn schedules(
        &self,
        resident: &str,
        ask: townhall_wire::hall::Ask,
    ) -> impl Future<Output = String> + Send;
    /// Roll `resident`'s home back to checkpoint `n`; markdown describing the result.
    fn rollback(
        &self,
        resident: &str,
        by: &str,
        n: u64,
    ) -> impl Future<Output = Result<String, HallError>> + Send;
    /// Have root save a file `sender` sent into the resident's inbox; where it went.
    fn file(
        &self,
        resident: &str,
        sender: &str,
        conversation: &str,
        file: &crate::FileRef,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<String, crate::files::NotSaved>> + Send;
    /// A device command (`!devices`, `!lease`, `!tail`…) asked by `by`: each markdown message
    /// it has to say goes to `said`, in order (a tail's go on until it ends).
    fn device(
        &self,
        by: &str,
        command: DeviceCommand,
        said: mpsc::Sender<String>,
    ) -> impl Future<Output = ()> + Send;
    /// A mayor reacted to `target` in `room` (an approval's ✅ or ❌, or nothing of ours).
    fn reacted(&self, room: &str, target: &str, key: &str, sender: &str);
    /// A human the resident takes commands from answered `target` in `room`: whether that
    /// is one of the resident's open questions (then it is no message for a turn).
    fn answered(&self, room: &str, target: &str, answer: Answered, sender: &str) -> bool {
        let _ = (room, target, answer, sender);
        false
    }
    fn audit(&self, resident: &str, what: Refused, from: &str, room: &str, why: &str);
    fn chat_health(&self, resident: &str, health: String);
    /// The resident's bot is connected: notices and kept answers can go out through it.
    fn connected(self: Arc<Self>, resident: &str, chat: MatrixChat);
}

/// An answer to an agent's question: a reaction's key, or a reply's body.
#[derive(Debug, Clone, PartialEq)]
pub enum Answered {
    Reaction(String),
    Reply(String),
}

/// A message that asks for a turn, and its place in its conversation's line.
pub struct TurnAsk {
    pub resident: String,
    pub sender: String,
    pub conversation: String,
    pub prompt: String,
    pub reply: Reply,
    pub place: Place,
}
