//! Chat: each resident's Matrix identity, all of them in the unprivileged `townhall-chat`
//! process (remote.rs). The `Chat` seam is the whole of Matrix a bot uses: what a sync
//! brought, and the room operations it answers with.
//!
//! This crate is the privilege boundary in the build: it depends on the declared town
//! (townhall-config), the hall's protocol (townhall-wire) and the shared file writes
//! (townhall-os) only, so the chat binary cannot name the reset, ACL, signing or unit
//! code; it asks root for all of that over the hall.

pub mod act;
pub mod answer;
mod approvals;
pub mod bot;
mod confirm;
pub mod credentials;
mod devices;
mod files;
pub mod identity;
pub mod line;
mod matrix;
pub mod policy;
mod presence;
mod questions;
pub mod remote;
pub mod roles;
mod shared;
#[cfg(test)]
mod tests;
pub mod words;

#[cfg(test)]
pub(crate) mod testing {
    /// The shipped example town (town.toml + residents/ at the top of the workspace).
    pub fn demo_town() -> townhall_config::Town {
        let top = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        townhall_config::load(std::path::Path::new(top)).expect("the shipped config is valid")
    }
}

pub use matrix::MatrixChat;

use townhall_os::OsError;

/// A room message as a bot reads it (decrypted already where the room is encrypted).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    pub room: String,
    pub event: String,
    pub sender: String,
    /// The homeserver's timestamp, ms since the epoch.
    pub ts: u64,
    pub body: String,
    pub notice: bool,
    pub edit: bool,
    pub thread: Option<String>,
    /// The event it replies to (m.in_reply_to), if it is a reply.
    pub reply_to: Option<String>,
    /// Users the message mentions (m.mentions).
    pub mentions: Vec<String>,
    /// An image, file, audio or video message (its `body` is then the caption, maybe empty).
    pub file: Option<FileRef>,
}

/// Where a sent file's bytes are, and what its sender said of it (untrusted: sizes are
/// checked again once downloaded).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileRef {
    /// The event's media source (plain or encrypted) as JSON, for `Chat::download`.
    pub source: String,
    pub name: String,
    pub mimetype: Option<String>,
    pub size: Option<u64>,
}

/// What one sync brought that a bot acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    Invite {
        room: String,
        inviter: String,
    },
    Message(Message),
    /// A reaction (`key`, an emoji) to the event `target`.
    Reaction {
        room: String,
        event: String,
        sender: String,
        ts: u64,
        target: String,
        key: String,
    },
    /// An event this device has no keys for (the room turned encrypted before it joined…).
    Undecryptable {
        room: String,
        event: String,
        sender: String,
        ts: u64,
    },
}

pub trait Chat: Clone + Send + Sync + 'static {
    /// What happened since the last sync, waiting up to `wait` for something to happen.
    fn sync(
        &self,
        wait: std::time::Duration,
    ) -> impl Future<Output = Result<Vec<Heard>, OsError>> + Send;
    fn join(&self, room: &str) -> impl Future<Output = Result<(), OsError>> + Send;
    fn leave(&self, room: &str) -> impl Future<Output = Result<(), OsError>> + Send;
    /// Users joined or invited (from the member list: the sync summary lags behind joins).
    fn members(&self, room: &str) -> impl Future<Output = Result<usize, OsError>> + Send;
    /// When this bot joined the room, ms since the epoch, if known.
    fn joined_at(&self, room: &str) -> impl Future<Output = Option<u64>> + Send;
    /// Send markdown to a room (in a thread when given its root); returns the event id.
    fn send(
        &self,
        room: &str,
        thread: Option<&str>,
        markdown: &str,
    ) -> impl Future<Output = Result<String, OsError>> + Send;
    /// Send markdown that mentions `users` (m.mentions, so their clients notify).
    fn send_mentioning(
        &self,
        room: &str,
        thread: Option<&str>,
        markdown: &str,
        users: &[String],
    ) -> impl Future<Output = Result<String, OsError>> + Send;
    /// Replace the text of an earlier message of ours.
    fn edit(
        &self,
        room: &str,
        event: &str,
        markdown: &str,
    ) -> impl Future<Output = Result<(), OsError>> + Send;
    fn typing(&self, room: &str, on: bool) -> impl Future<Output = Result<(), OsError>> + Send;
    /// React to a message (an annotation: `key` is an emoji).
    fn react(
        &self,
        room: &str,
        event: &str,
        key: &str,
    ) -> impl Future<Output = Result<(), OsError>> + Send;
    /// A file's bytes (decrypted where the room is encrypted). The homeserver's upload limit
    /// bounds them; the caller checks the resident's.
    fn download(&self, file: &FileRef) -> impl Future<Output = Result<Vec<u8>, OsError>> + Send;
    /// Set the bot's presence: online, with `status` as its status message.
    fn presence(&self, status: &str) -> impl Future<Output = Result<(), OsError>> + Send;
    /// The power levels of `room` that roles need: the bot's, whether it may change them,
    /// and `users`'.
    fn levels(
        &self,
        room: &str,
        users: &[String],
    ) -> impl Future<Output = Result<roles::Levels, OsError>> + Send;
    /// Set `users`' power level in `room`.
    fn set_level(
        &self,
        room: &str,
        users: &[String],
        level: i64,
    ) -> impl Future<Output = Result<(), OsError>> + Send;
    /// Send a file (encrypted where the room is): an image when `mimetype` says so.
    fn upload(
        &self,
        room: &str,
        thread: Option<&str>,
        name: &str,
        mimetype: &str,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<String, OsError>> + Send;
}

#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::{FakeChat, FakeRooms};
