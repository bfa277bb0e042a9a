//! The Matrix side of the chat seam (matrix-sdk): a sync response becomes `Heard`.

use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::TimelineEventKind;
use matrix_sdk::ruma::events::relation::Thread;
use matrix_sdk::ruma::events::room::message::{MessageType, Relation, ReplacementMetadata, RoomMessageEventContent};
use matrix_sdk::ruma::events::{AnySyncMessageLikeEvent, AnySyncTimelineEvent, SyncMessageLikeEvent};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId};

use super::{Chat, Heard, Message};
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

/// A timeline event as the bot reads it; None for what it never acts on (state, reactions…).
fn heard(room: &str, kind: TimelineEventKind) -> Option<Heard> {
    let undecryptable = matches!(kind, TimelineEventKind::UnableToDecrypt { .. });
    let event = kind.raw().deserialize().ok()?;
    let (sender, id, ts) = (event.sender().to_string(), event.event_id().to_string(), u64::from(event.origin_server_ts().0));
    if undecryptable {
        return Some(Heard::Undecryptable { room: room.into(), event: id, sender, ts });
    }
    let AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(SyncMessageLikeEvent::Original(m))) = event else {
        return None;
    };
    let thread = match &m.content.relates_to {
        Some(Relation::Thread(t)) => Some(t.event_id.to_string()),
        _ => None,
    };
    Some(Heard::Message(Message {
        room: room.into(),
        event: id,
        sender,
        ts,
        body: m.content.body().to_string(),
        notice: matches!(m.content.msgtype, MessageType::Notice(_)),
        edit: matches!(m.content.relates_to, Some(Relation::Replacement(_))),
        thread,
        mentions: m.content.mentions.as_ref().map(|mm| mm.user_ids.iter().map(|u| u.to_string()).collect()).unwrap_or_default(),
    }))
}

impl Chat for MatrixChat {
    async fn sync(&self, wait: Duration) -> Result<Vec<Heard>, OsError> {
        let settings = SyncSettings::default().timeout(wait);
        let resp = self.client.sync_once(settings).await.os(|| "syncing".into())?;
        let mut out = Vec::new();
        for room_id in resp.rooms.invited.keys() {
            let Some(room) = self.client.get_room(room_id) else { continue };
            match room.invite_details().await {
                Ok(d) => out.push(Heard::Invite { room: room_id.to_string(), inviter: d.inviter_id.to_string() }),
                Err(e) => tracing::warn!("reading the invite to {room_id}: {e}"),
            }
        }
        for (room_id, update) in resp.rooms.joined {
            out.extend(update.timeline.events.into_iter().filter_map(|ev| heard(room_id.as_str(), ev.kind)));
        }
        Ok(out)
    }

    async fn join(&self, room: &str) -> Result<(), OsError> {
        self.room(room)?.join().await.os(|| format!("joining {room}"))
    }

    async fn leave(&self, room: &str) -> Result<(), OsError> {
        self.room(room)?.leave().await.os(|| format!("leaving {room}"))
    }

    async fn members(&self, room: &str) -> Result<usize, OsError> {
        let r = self.room(room)?;
        let m = r.members(matrix_sdk::RoomMemberships::JOIN | matrix_sdk::RoomMemberships::INVITE).await.os(|| format!("listing members of {room}"))?;
        Ok(m.len())
    }

    async fn joined_at(&self, room: &str) -> Option<u64> {
        let me = self.client.user_id()?;
        let member = self.room(room).ok()?.get_member_no_sync(me).await.ok()??;
        member.event().timestamp().map(u64::from)
    }

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

    async fn react(&self, room: &str, event: &str, key: &str) -> Result<(), OsError> {
        use matrix_sdk::ruma::events::reaction::ReactionEventContent;
        use matrix_sdk::ruma::events::relation::Annotation;
        let r = self.room(room)?;
        let id = OwnedEventId::try_from(event).os(|| format!("parsing event id {event}"))?;
        r.send(ReactionEventContent::new(Annotation::new(id, key.into()))).await.os(|| format!("reacting to {event} in {room}"))?;
        Ok(())
    }

    async fn typing(&self, room: &str, on: bool) -> Result<(), OsError> {
        self.room(room)?.typing_notice(on).await.os(|| format!("typing in {room}"))
    }
}
