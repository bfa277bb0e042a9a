//! Chat: each resident's Matrix identity, all of them in the unprivileged `townhall chat`
//! process (remote.rs). The seam is what a turn needs to speak.

pub mod answer;
pub mod bot;
pub mod credentials;
pub mod identity;
mod matrix;
pub mod policy;
pub mod remote;
pub mod words;

pub use matrix::MatrixChat;

use crate::os::{OsError, Recorder};

pub trait Chat {
    /// Send markdown to a room (in a thread when given its root); returns the event id.
    fn send(&self, room: &str, thread: Option<&str>, markdown: &str) -> impl Future<Output = Result<String, OsError>> + Send;
    /// Replace the text of an earlier message of ours.
    fn edit(&self, room: &str, event: &str, markdown: &str) -> impl Future<Output = Result<(), OsError>> + Send;
    fn typing(&self, room: &str, on: bool) -> impl Future<Output = Result<(), OsError>> + Send;
}

#[derive(Debug, Default)]
pub struct FakeChat {
    pub calls: Recorder,
}

impl Chat for FakeChat {
    async fn send(&self, room: &str, thread: Option<&str>, markdown: &str) -> Result<String, OsError> {
        let thread = thread.map(|t| format!(" thread={t}")).unwrap_or_default();
        self.calls.record(format!("send {room}{thread} {markdown}"));
        Ok(format!("$event{}", self.calls.calls().len()))
    }

    async fn edit(&self, room: &str, event: &str, markdown: &str) -> Result<(), OsError> {
        self.calls.record(format!("edit {room} {event} {markdown}"));
        Ok(())
    }

    async fn typing(&self, room: &str, on: bool) -> Result<(), OsError> {
        self.calls.record(format!("typing {room} {on}"));
        Ok(())
    }
}
