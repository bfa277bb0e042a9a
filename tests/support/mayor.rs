//! The mayor as a real Matrix client (matrix-sdk), for tests that talk to the town.

use std::time::Duration;

use anyhow::Context;
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoom;
use matrix_sdk::ruma::events::AnySyncMessageLikeEvent;
use matrix_sdk::ruma::events::AnySyncTimelineEvent;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;

#[derive(serde::Deserialize)]
pub struct Credentials {
    pub homeserver: String,
    pub user: String,
    pub password: String,
}

pub struct Mayor {
    pub client: Client,
    /// Per room, the event a wait starts after: the mayor's last message there, or a mark
    /// the check set. A wait never matches what was in the room before the check acted.
    marks: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// A point in a room's timeline: messages after it are what a check's action caused.
#[derive(Debug, Clone)]
pub struct Mark(String);

impl Mayor {
    /// Log in with the password the harness registered (no store: a fresh device each run).
    pub async fn login(creds: &Credentials) -> anyhow::Result<Self> {
        let client = Client::builder()
            .homeserver_url(&creds.homeserver)
            .build()
            .await?;
        client
            .matrix_auth()
            .login_username(&creds.user, &creds.password)
            .initial_device_display_name("townhall tests (mayor)")
            .send()
            .await
            .with_context(|| format!("logging in as {}", creds.user))?;
        client
            .sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await?;
        Ok(Self {
            client,
            marks: Default::default(),
        })
    }

    fn set_mark(&self, room: &OwnedRoomId, event: &str) -> Mark {
        self.marks
            .lock()
            .expect("marks")
            .insert(room.to_string(), event.to_string());
        Mark(event.to_string())
    }

    /// Mark the room's latest event: later waits match only what comes after it (for what
    /// a check causes without saying anything there: a restart, a device, a push).
    pub async fn mark(&self, room: &OwnedRoomId) -> anyhow::Result<Mark> {
        let latest = self
            .latest_any(room)
            .await?
            .context("the room has no events to mark")?;
        Ok(self.set_mark(room, &latest))
    }

    /// The id of the room's latest event of any kind, after a sync.
    async fn latest_any(&self, room: &OwnedRoomId) -> anyhow::Result<Option<String>> {
        let newest = self.newest(room, 1).await?;
        Ok(newest
            .first()
            .and_then(|e| e.event_id())
            .map(|e| e.to_string()))
    }

    /// The room as the client knows it after a sync.
    async fn synced_room(&self, room: &OwnedRoomId) -> anyhow::Result<matrix_sdk::Room> {
        self.client
            .sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await?;
        self.client
            .get_room(room)
            .context("room not known to the client")
    }

    /// The room's newest `limit` events of any kind, newest first, after a sync.
    async fn newest(
        &self,
        room: &OwnedRoomId,
        limit: u32,
    ) -> anyhow::Result<Vec<matrix_sdk::deserialized_responses::TimelineEvent>> {
        let r = self.synced_room(room).await?;
        let mut opts = MessagesOptions::backward();
        opts.limit = limit.into();
        Ok(r.messages(opts).await?.chunk)
    }

    pub async fn create_room(&self, name: &str) -> anyhow::Result<OwnedRoomId> {
        self.create(name, &[], false, false).await
    }

    /// A room inviting `users`; `direct` marks it a DM, `encrypted` turns on E2EE from the
    /// start (as Element does for DMs).
    pub async fn create(
        &self,
        name: &str,
        users: &[&str],
        direct: bool,
        encrypted: bool,
    ) -> anyhow::Result<OwnedRoomId> {
        let mut req = CreateRoom::new();
        req.name = Some(name.into());
        req.is_direct = direct;
        req.invite = users
            .iter()
            .map(|u| (*u).try_into())
            .collect::<Result<_, _>>()?;
        if encrypted {
            let ev = serde_json::json!({"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}});
            req.initial_state = vec![serde_json::from_value(ev)?];
        }
        let room = self.client.create_room(req).await?.room_id().to_owned();
        self.mark(&room).await?;
        Ok(room)
    }

    /// Invite `user` to a room the mayor is in.
    pub async fn invite(&self, room: &OwnedRoomId, user: &str) -> anyhow::Result<()> {
        let r = self.synced_room(room).await?;
        r.invite_user_by_id(&matrix_sdk::ruma::UserId::parse(user)?)
            .await?;
        Ok(())
    }

    /// Wait until every one of `users` has joined the room.
    pub async fn wait_joined(&self, room: &OwnedRoomId, users: &[&str]) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            self.client
                .sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
                .await?;
            let r = self.client.get_room(room).context("room not known")?;
            let joined = r.members(matrix_sdk::RoomMemberships::JOIN).await?;
            if users
                .iter()
                .all(|u| joined.iter().any(|m| m.user_id().as_str() == *u))
            {
                return Ok(());
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "{users:?} did not join {room}"
            );
        }
    }

    pub async fn join(&self, room: &OwnedRoomId) -> anyhow::Result<()> {
        self.client
            .sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await?;
        self.client.join_room_by_id(room).await?;
        self.mark(room).await?;
        Ok(())
    }

    /// Send text, optionally mentioning users (m.mentions), and return the event id.
    pub async fn say(&self, room: &OwnedRoomId, text: &str) -> anyhow::Result<String> {
        let r = self.synced_room(room).await?;
        let id = r
            .send(RoomMessageEventContent::text_plain(text))
            .await?
            .response
            .event_id
            .to_string();
        self.set_mark(room, &id);
        Ok(id)
    }

    /// The room's latest 100 messages as sent (not redacted), oldest first, after a sync.
    async fn latest(
        &self,
        room: &OwnedRoomId,
    ) -> anyhow::Result<Vec<(String, RoomMessageEventContent)>> {
        Ok(self
            .events_after(room, None)
            .await?
            .into_iter()
            .map(|(_, s, c)| (s, c))
            .collect())
    }

    /// The messages among the room's latest 100 events that came after `mark` (any kind
    /// of event), oldest first; all of them when there is no mark or it is further back.
    async fn events_after(
        &self,
        room: &OwnedRoomId,
        mark: Option<&Mark>,
    ) -> anyhow::Result<Vec<(String, String, RoomMessageEventContent)>> {
        let mut out = Vec::new();
        // Newest first: stop at the mark.
        for ev in self.newest(room, 100).await?.iter() {
            if let (Some(Mark(m)), Some(id)) = (mark, ev.event_id())
                && id.as_str() == m
            {
                break;
            }
            if let Ok(AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(m))) =
                ev.raw().deserialize()
                && let Some(orig) = m.as_original()
            {
                out.push((
                    m.event_id().to_string(),
                    m.sender().to_string(),
                    orig.content.clone(),
                ));
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Every message `from` sent in the room, as (body, is_edit), oldest first.
    pub async fn from(
        &self,
        room: &OwnedRoomId,
        from: &str,
    ) -> anyhow::Result<Vec<(String, bool)>> {
        self.sent_since(room, from, None).await
    }

    /// The messages `from` sent after `mark` (all of the latest 100 when None).
    async fn sent_since(
        &self,
        room: &OwnedRoomId,
        from: &str,
        mark: Option<&Mark>,
    ) -> anyhow::Result<Vec<(String, bool)>> {
        use matrix_sdk::ruma::events::room::message::Relation;
        let msgs = self
            .events_after(room, mark)
            .await?
            .into_iter()
            .map(|(_, s, c)| (s, c))
            .filter(|(sender, _)| sender == from);
        Ok(msgs
            .map(|(_, c)| {
                (
                    c.body().to_string(),
                    matches!(c.relates_to, Some(Relation::Replacement(_))),
                )
            })
            .collect())
    }

    /// Bodies of the messages in the thread under `root`, oldest first.
    pub async fn thread(&self, room: &OwnedRoomId, root: &str) -> anyhow::Result<Vec<String>> {
        use matrix_sdk::ruma::events::room::message::Relation;
        let msgs = self.latest(room).await?.into_iter();
        Ok(msgs.filter(|(_, c)| matches!(&c.relates_to, Some(Relation::Thread(th)) if th.event_id.as_str() == root)).map(|(_, c)| c.body().to_string()).collect())
    }

    /// (msgtype, file name, bytes) of every file `from` sent in the room, downloaded (and
    /// decrypted) as Element would.
    pub async fn files_from(
        &self,
        room: &OwnedRoomId,
        from: &str,
    ) -> anyhow::Result<Vec<(String, String, Vec<u8>)>> {
        use matrix_sdk::media::{MediaFormat, MediaRequestParameters};
        use matrix_sdk::ruma::events::room::message::MessageType;
        let mut out = Vec::new();
        for (sender, c) in self.latest(room).await? {
            let (kind, source, name) = match &c.msgtype {
                MessageType::Image(i) => ("m.image", i.source.clone(), i.filename().to_string()),
                MessageType::File(f) => ("m.file", f.source.clone(), f.filename().to_string()),
                _ => continue,
            };
            if sender != from {
                continue;
            }
            let bytes = self
                .client
                .media()
                .get_media_content(
                    &MediaRequestParameters {
                        source,
                        format: MediaFormat::File,
                    },
                    false,
                )
                .await?;
            out.push((kind.to_string(), name, bytes));
        }
        Ok(out)
    }

    /// Send a file as Element does (encrypted in an encrypted room); its event id.
    pub async fn send_file(
        &self,
        room: &OwnedRoomId,
        name: &str,
        mimetype: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<String> {
        let r = self
            .client
            .get_room(room)
            .context("room not known to the client")?;
        let mime: mime::Mime = mimetype.parse()?;
        let sent = r
            .send_attachment(
                name,
                &mime,
                bytes,
                matrix_sdk::attachment::AttachmentConfig::new(),
            )
            .await?;
        Ok(sent.event_id.to_string())
    }

    /// The id of the newest message (not an edit) `from` sent whose body contains `want`,
    /// once there is one.
    pub async fn event_with(
        &self,
        room: &OwnedRoomId,
        from: &str,
        want: &str,
    ) -> anyhow::Result<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            use matrix_sdk::ruma::events::room::message::Relation;
            let edit = |c: &RoomMessageEventContent| {
                matches!(c.relates_to, Some(Relation::Replacement(_)))
            };
            let found = self
                .events_after(room, None)
                .await?
                .into_iter()
                .rev()
                .find(|(_, s, c)| s == from && !edit(c) && c.body().contains(want));
            if let Some((id, _, _)) = found {
                return Ok(id);
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "no message from {from} in {room} contains {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// React to `event` with `key` (an emoji), as Element does.
    pub async fn react(&self, room: &OwnedRoomId, event: &str, key: &str) -> anyhow::Result<()> {
        use matrix_sdk::ruma::events::{reaction::ReactionEventContent, relation::Annotation};
        let r = self
            .client
            .get_room(room)
            .context("room not known to the client")?;
        let id = matrix_sdk::ruma::OwnedEventId::try_from(event)?;
        r.send(ReactionEventContent::new(Annotation::new(id, key.into())))
            .await?;
        Ok(())
    }

    /// Start noting who the server says is typing, per room (ephemeral `m.typing` events).
    pub fn watch_typing(&self) -> std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        self.client.add_event_handler(
            move |ev: matrix_sdk::ruma::events::typing::SyncTypingEvent, room: matrix_sdk::Room| {
                let log = log.clone();
                async move {
                    for u in ev.content.user_ids {
                        log.lock()
                            .unwrap()
                            .push((room.room_id().to_string(), u.to_string()));
                    }
                }
            },
        );
        seen
    }

    /// Wait until `from` has sent a message (or an edit) whose body contains `want`, after
    /// the room's mark (the mayor's last message there, or `mark`); what `from` sent since.
    pub async fn wait_for(
        &self,
        room: &OwnedRoomId,
        from: &str,
        want: &str,
    ) -> anyhow::Result<Vec<(String, bool)>> {
        let mark = self
            .marks
            .lock()
            .expect("marks")
            .get(room.as_str())
            .cloned()
            .map(Mark)
            .with_context(|| format!("nothing marked in {room}: say something there or mark it"))?;
        self.wait_for_since(room, from, want, &mark).await
    }

    /// `wait_for` after an earlier mark: for a check that must see everything since then,
    /// e.g. to prove a message it caused was never answered.
    pub async fn wait_for_since(
        &self,
        room: &OwnedRoomId,
        from: &str,
        want: &str,
        mark: &Mark,
    ) -> anyhow::Result<Vec<(String, bool)>> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let msgs = self.sent_since(room, from, Some(mark)).await?;
            if msgs.iter().any(|(b, _)| b.contains(want)) {
                return Ok(msgs);
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "no `{want}` from {from} in {room} after {mark:?}; got {msgs:?}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub async fn send(&self, room: &OwnedRoomId, text: &str) -> anyhow::Result<()> {
        let r = self
            .client
            .get_room(room)
            .context("room not known to the client")?;
        let sent = r.send(RoomMessageEventContent::text_plain(text)).await?;
        self.set_mark(room, sent.response.event_id.as_str());
        Ok(())
    }

    /// (sender, body) of the room's latest messages, oldest first.
    pub async fn messages(&self, room: &OwnedRoomId) -> anyhow::Result<Vec<(String, String)>> {
        Ok(self
            .latest(room)
            .await?
            .into_iter()
            .map(|(sender, c)| (sender, c.body().to_string()))
            .collect())
    }
}
