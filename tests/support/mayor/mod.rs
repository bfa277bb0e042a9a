//! The mayor as a real Matrix client (matrix-sdk), for tests that talk to the town: logged
//! in, making and joining rooms, speaking and reacting in them, and marking where what a
//! check caused begins. What the mayor reads is in reading.rs, files in files.rs.

mod files;
mod reading;
mod standing;

use std::time::Duration;

use anyhow::Context;
use matrix_sdk::Client;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::ruma::api::client::room::create_room::v3::Request as CreateRoom;
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

    /// Send text in the thread under `root` (m.thread, as Element's threads do); its id.
    pub async fn say_in_thread(
        &self,
        room: &OwnedRoomId,
        root: &str,
        text: &str,
    ) -> anyhow::Result<String> {
        use matrix_sdk::ruma::events::relation::Thread;
        use matrix_sdk::ruma::events::room::message::Relation;
        let r = self.synced_room(room).await?;
        let mut content = RoomMessageEventContent::text_plain(text);
        let root = matrix_sdk::ruma::OwnedEventId::try_from(root)?;
        content.relates_to = Some(Relation::Thread(Thread::without_fallback(root)));
        let id = r.send(content).await?.response.event_id.to_string();
        self.set_mark(room, &id);
        Ok(id)
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

    /// Reply to `event` with `text` (m.in_reply_to, as Element's "Reply" does).
    pub async fn reply(&self, room: &OwnedRoomId, event: &str, text: &str) -> anyhow::Result<()> {
        use matrix_sdk::ruma::events::relation::{InReplyTo, Reply};
        use matrix_sdk::ruma::events::room::message::Relation;
        let r = self.synced_room(room).await?;
        let mut content = RoomMessageEventContent::text_plain(text);
        let to = matrix_sdk::ruma::OwnedEventId::try_from(event)?;
        content.relates_to = Some(Relation::Reply(Reply::new(InReplyTo::new(to))));
        let sent = r.send(content).await?;
        self.set_mark(room, sent.response.event_id.as_str());
        Ok(())
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
}
