//! The Matrix side of the chat seam (matrix-sdk): a sync response becomes `Heard`.

use std::time::Duration;

use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::TimelineEventKind;
use matrix_sdk::ruma::events::relation::Thread;
use matrix_sdk::ruma::events::room::message::{
    MessageType, Relation, ReplacementMetadata, RoomMessageEventContent,
};
use matrix_sdk::ruma::events::{
    AnySyncMessageLikeEvent, AnySyncTimelineEvent, SyncMessageLikeEvent,
};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId};

use super::{Chat, FileRef, Heard, Message};
use townhall_os::{OsContext, OsError};

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
    let (sender, id, ts) = (
        event.sender().to_string(),
        event.event_id().to_string(),
        u64::from(event.origin_server_ts().0),
    );
    if undecryptable {
        return Some(Heard::Undecryptable {
            room: room.into(),
            event: id,
            sender,
            ts,
        });
    }
    if let AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::Reaction(
        SyncMessageLikeEvent::Original(r),
    )) = &event
    {
        let (target, key) = (
            r.content.relates_to.event_id.to_string(),
            r.content.relates_to.key.clone(),
        );
        return Some(Heard::Reaction {
            room: room.into(),
            event: id,
            sender,
            ts,
            target,
            key,
        });
    }
    let AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(
        SyncMessageLikeEvent::Original(m),
    )) = event
    else {
        return None;
    };
    let thread = match &m.content.relates_to {
        Some(Relation::Thread(t)) => Some(t.event_id.to_string()),
        _ => None,
    };
    // What it answers: a reply, or a reply within a thread (not a thread's fallback).
    let reply_to = match &m.content.relates_to {
        Some(Relation::Reply(r)) => Some(r.in_reply_to.event_id.to_string()),
        Some(Relation::Thread(t)) if !t.is_falling_back => {
            t.in_reply_to.as_ref().map(|r| r.event_id.to_string())
        }
        _ => None,
    };
    let file = file(&m.content.msgtype);
    // A file's body is its caption when it has one, else its name (not words for a turn).
    let body = match (&m.content.msgtype, &file) {
        (MessageType::Image(c), Some(_)) => c.caption().unwrap_or_default().to_string(),
        (MessageType::File(c), Some(_)) => c.caption().unwrap_or_default().to_string(),
        (MessageType::Audio(c), Some(_)) => c.caption().unwrap_or_default().to_string(),
        (MessageType::Video(c), Some(_)) => c.caption().unwrap_or_default().to_string(),
        _ => m.content.body().to_string(),
    };
    Some(Heard::Message(Message {
        room: room.into(),
        event: id,
        sender,
        ts,
        body,
        file,
        notice: matches!(m.content.msgtype, MessageType::Notice(_)),
        edit: matches!(m.content.relates_to, Some(Relation::Replacement(_))),
        thread,
        reply_to,
        mentions: m
            .content
            .mentions
            .as_ref()
            .map(|mm| mm.user_ids.iter().map(|u| u.to_string()).collect())
            .unwrap_or_default(),
    }))
}

/// `content` in the thread under `root`, when given.
fn in_thread(
    mut content: RoomMessageEventContent,
    thread: Option<&str>,
) -> Result<RoomMessageEventContent, OsError> {
    if let Some(root) = thread {
        let root = OwnedEventId::try_from(root).os(|| format!("parsing thread root {root}"))?;
        content.relates_to = Some(Relation::Thread(Thread::plain(root.clone(), root)));
    }
    Ok(content)
}

/// The media an image, file, audio or video message carries.
fn file(t: &MessageType) -> Option<FileRef> {
    let (source, name, mimetype, size) = match t {
        MessageType::Image(c) => (
            &c.source,
            c.filename(),
            c.info.as_ref().and_then(|i| i.mimetype.clone()),
            c.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::File(c) => (
            &c.source,
            c.filename(),
            c.info.as_ref().and_then(|i| i.mimetype.clone()),
            c.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::Audio(c) => (
            &c.source,
            c.filename(),
            c.info.as_ref().and_then(|i| i.mimetype.clone()),
            c.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::Video(c) => (
            &c.source,
            c.filename(),
            c.info.as_ref().and_then(|i| i.mimetype.clone()),
            c.info.as_ref().and_then(|i| i.size),
        ),
        _ => return None,
    };
    let source = serde_json::to_string(source).ok()?;
    Some(FileRef {
        source,
        name: name.to_string(),
        mimetype,
        size: size.map(u64::from),
    })
}

impl Chat for MatrixChat {
    async fn sync(&self, wait: Duration) -> Result<Vec<Heard>, OsError> {
        let settings = SyncSettings::default().timeout(wait);
        let resp = self
            .client
            .sync_once(settings)
            .await
            .os(|| "syncing".into())?;
        let mut out = Vec::new();
        for room_id in resp.rooms.invited.keys() {
            let Some(room) = self.client.get_room(room_id) else {
                continue;
            };
            match room.invite_details().await {
                Ok(d) => out.push(Heard::Invite {
                    room: room_id.to_string(),
                    inviter: d.inviter_id.to_string(),
                }),
                Err(e) => tracing::warn!("reading the invite to {room_id}: {e}"),
            }
        }
        for (room_id, update) in resp.rooms.joined {
            out.extend(
                update
                    .timeline
                    .events
                    .into_iter()
                    .filter_map(|ev| heard(room_id.as_str(), ev.kind)),
            );
        }
        Ok(out)
    }

    async fn join(&self, room: &str) -> Result<(), OsError> {
        self.room(room)?
            .join()
            .await
            .os(|| format!("joining {room}"))
    }

    async fn leave(&self, room: &str) -> Result<(), OsError> {
        self.room(room)?
            .leave()
            .await
            .os(|| format!("leaving {room}"))
    }

    async fn members(&self, room: &str) -> Result<usize, OsError> {
        let r = self.room(room)?;
        let m = r
            .members(matrix_sdk::RoomMemberships::JOIN | matrix_sdk::RoomMemberships::INVITE)
            .await
            .os(|| format!("listing members of {room}"))?;
        Ok(m.len())
    }

    async fn joined_at(&self, room: &str) -> Option<u64> {
        let me = self.client.user_id()?;
        let member = self.room(room).ok()?.get_member_no_sync(me).await.ok()??;
        member.event().timestamp().map(u64::from)
    }

    async fn send(
        &self,
        room: &str,
        thread: Option<&str>,
        markdown: &str,
    ) -> Result<String, OsError> {
        let r = self.room(room)?;
        let content = in_thread(RoomMessageEventContent::text_markdown(markdown), thread)?;
        let sent = r.send(content).await.os(|| format!("sending to {room}"))?;
        Ok(sent.response.event_id.to_string())
    }

    async fn send_mentioning(
        &self,
        room: &str,
        thread: Option<&str>,
        markdown: &str,
        users: &[String],
    ) -> Result<String, OsError> {
        use matrix_sdk::ruma::OwnedUserId;
        use matrix_sdk::ruma::events::Mentions;
        let r = self.room(room)?;
        let ids: Vec<OwnedUserId> = users
            .iter()
            .filter_map(|u| OwnedUserId::try_from(u.as_str()).ok())
            .collect();
        let content = RoomMessageEventContent::text_markdown(markdown)
            .add_mentions(Mentions::with_user_ids(ids));
        let content = in_thread(content, thread)?;
        let sent = r.send(content).await.os(|| format!("sending to {room}"))?;
        Ok(sent.response.event_id.to_string())
    }

    async fn edit(&self, room: &str, event: &str, markdown: &str) -> Result<(), OsError> {
        let r = self.room(room)?;
        let id = OwnedEventId::try_from(event).os(|| format!("parsing event id {event}"))?;
        // make_replacement builds the edit locally; make_edit_event would fetch the original.
        let content = RoomMessageEventContent::text_markdown(markdown)
            .make_replacement(ReplacementMetadata::new(id, None));
        r.send(content)
            .await
            .os(|| format!("editing {event} in {room}"))?;
        Ok(())
    }

    async fn react(&self, room: &str, event: &str, key: &str) -> Result<(), OsError> {
        use matrix_sdk::ruma::events::reaction::ReactionEventContent;
        use matrix_sdk::ruma::events::relation::Annotation;
        let r = self.room(room)?;
        let id = OwnedEventId::try_from(event).os(|| format!("parsing event id {event}"))?;
        r.send(ReactionEventContent::new(Annotation::new(id, key.into())))
            .await
            .os(|| format!("reacting to {event} in {room}"))?;
        Ok(())
    }

    async fn typing(&self, room: &str, on: bool) -> Result<(), OsError> {
        self.room(room)?
            .typing_notice(on)
            .await
            .os(|| format!("typing in {room}"))
    }

    async fn presence(&self, status: &str) -> Result<(), OsError> {
        use matrix_sdk::ruma::api::client::presence::set_presence::v3::Request;
        use matrix_sdk::ruma::presence::PresenceState;
        let what = || format!("setting presence to {status:?}");
        let me = self.client.user_id().ok_or("not logged in").os(what)?;
        let mut request = Request::new(me.to_owned(), PresenceState::Online);
        request.status_msg = Some(status.to_string());
        self.client.send(request).await.os(what)?;
        Ok(())
    }

    async fn levels(&self, room: &str, users: &[String]) -> Result<crate::roles::Levels, OsError> {
        use matrix_sdk::ruma::events::StateEventType;
        use matrix_sdk::ruma::events::room::power_levels::UserPowerLevel;
        let what = || format!("reading the power levels of {room}");
        let levels = self.room(room)?.power_levels().await.os(what)?;
        let me = self.client.user_id().ok_or("not logged in").os(what)?;
        let level = |u: &matrix_sdk::ruma::UserId| match levels.for_user(u) {
            UserPowerLevel::Infinite => None,
            UserPowerLevel::Int(i) => Some(i64::from(i)),
            _ => Some(0),
        };
        let mut out = crate::roles::Levels {
            may_change: levels.user_can_send_state(me, StateEventType::RoomPowerLevels),
            mine: level(me),
            users: Vec::new(),
        };
        for u in users {
            let id = matrix_sdk::ruma::OwnedUserId::try_from(u.as_str()).os(what)?;
            out.users.push((u.clone(), level(&id)));
        }
        Ok(out)
    }

    async fn set_level(&self, room: &str, users: &[String], level: i64) -> Result<(), OsError> {
        let what = || format!("raising {} to {level} in {room}", users.join(", "));
        let ids = users
            .iter()
            .map(|u| matrix_sdk::ruma::OwnedUserId::try_from(u.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .os(what)?;
        let level = matrix_sdk::ruma::Int::new(level)
            .ok_or("out of range")
            .os(what)?;
        let updates = ids.iter().map(|u| (u.as_ref(), level)).collect();
        self.room(room)?
            .update_power_levels(updates)
            .await
            .os(what)?;
        Ok(())
    }

    async fn download(&self, file: &FileRef) -> Result<Vec<u8>, OsError> {
        use matrix_sdk::media::{MediaFormat, MediaRequestParameters};
        let what = || format!("downloading {}", file.name);
        let source = serde_json::from_str(&file.source).os(what)?;
        let request = MediaRequestParameters {
            source,
            format: MediaFormat::File,
        };
        self.client
            .media()
            .get_media_content(&request, false)
            .await
            .os(what)
    }

    async fn upload(
        &self,
        room: &str,
        thread: Option<&str>,
        name: &str,
        mimetype: &str,
        bytes: Vec<u8>,
    ) -> Result<String, OsError> {
        use matrix_sdk::attachment::AttachmentConfig;
        let r = self.room(room)?;
        let mime: mime::Mime = mimetype.parse().unwrap_or(mime::APPLICATION_OCTET_STREAM);
        let mut config = AttachmentConfig::new();
        // A PNG says its size, so a client lays it out before the bytes arrive.
        if let Some((w, h)) = townhall_chart::png_size(&bytes).filter(|_| mimetype == "image/png") {
            use matrix_sdk::attachment::{AttachmentInfo, BaseImageInfo};
            config = config.info(AttachmentInfo::Image(BaseImageInfo {
                width: Some(w.into()),
                height: Some(h.into()),
                ..Default::default()
            }));
        }
        if let Some(root) = thread {
            let root = OwnedEventId::try_from(root).os(|| format!("parsing thread root {root}"))?;
            use matrix_sdk::room::reply::{EnforceThread, Reply};
            use matrix_sdk::ruma::events::room::message::{AddMentions, ReplyWithinThread};
            // In the thread, not as a reply to its root.
            config.reply = Some(Reply {
                event_id: root,
                enforce_thread: EnforceThread::Threaded(ReplyWithinThread::No),
                add_mentions: AddMentions::No,
            });
        }
        let sent = r
            .send_attachment(name, &mime, bytes, config)
            .await
            .os(|| format!("sending {name} to {room}"))?;
        Ok(sent.event_id.to_string())
    }
}
