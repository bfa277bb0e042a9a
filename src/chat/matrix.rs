//! The Matrix side of the chat seam (matrix-sdk).

use matrix_sdk::Client;
use matrix_sdk::ruma::events::relation::Thread;
use matrix_sdk::ruma::events::room::message::{Relation, ReplacementMetadata, RoomMessageEventContent};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId};

use super::Chat;
use crate::os::{OsContext, OsError};

/// One resident's logged-in client.
#[derive(Debug, Clone)]
pub struct MatrixChat {
    pub client: Client,
}

impl MatrixChat {
    fn room(&self, room: &str) -> Result<matrix_sdk::Room, OsError> {
        let id = OwnedRoomId::try_from(room).os(|| format!("parsing room id {room}"))?;
        self.client
            .get_room(&id)
            .ok_or_else(|| OsError::new(format!("opening room {room}"), "not joined"))
    }
}

impl Chat for MatrixChat {
    async fn send(&self, room: &str, thread: Option<&str>, markdown: &str) -> Result<String, OsError> {
        let r = self.room(room)?;
        let mut content = RoomMessageEventContent::text_markdown(markdown);
        if let Some(root) = thread {
            let root = OwnedEventId::try_from(root).os(|| format!("parsing thread root {root}"))?;
            content.relates_to = Some(Relation::Thread(Thread::plain(root.clone(), root)));
        }
        let sent = r.send(content).await.os(|| format!("sending to {room}"))?;
        Ok(sent.response.event_id.to_string())
    }

    async fn edit(&self, room: &str, event: &str, markdown: &str) -> Result<(), OsError> {
        let r = self.room(room)?;
        let id = OwnedEventId::try_from(event).os(|| format!("parsing event id {event}"))?;
        // make_replacement builds the edit locally; make_edit_event would fetch the original.
        let content = RoomMessageEventContent::text_markdown(markdown)
            .make_replacement(ReplacementMetadata::new(id, None));
        r.send(content).await.os(|| format!("editing {event} in {room}"))?;
        Ok(())
    }

    async fn typing(&self, room: &str, on: bool) -> Result<(), OsError> {
        self.room(room)?.typing_notice(on).await.os(|| format!("typing in {room}"))
    }
}
