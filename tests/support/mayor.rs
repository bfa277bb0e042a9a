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
}

impl Mayor {
    /// Log in with the password the harness registered (no store: a fresh device each run).
    pub async fn login(creds: &Credentials) -> anyhow::Result<Self> {
        let client = Client::builder().homeserver_url(&creds.homeserver).build().await?;
        client
            .matrix_auth()
            .login_username(&creds.user, &creds.password)
            .initial_device_display_name("townhall tests (mayor)")
            .send()
            .await
            .with_context(|| format!("logging in as {}", creds.user))?;
        client.sync_once(SyncSettings::default().timeout(Duration::from_secs(1))).await?;
        Ok(Self { client })
    }

    pub async fn create_room(&self, name: &str) -> anyhow::Result<OwnedRoomId> {
        let mut req = CreateRoom::new();
        req.name = Some(name.into());
        let room = self.client.create_room(req).await?;
        Ok(room.room_id().to_owned())
    }

    pub async fn send(&self, room: &OwnedRoomId, text: &str) -> anyhow::Result<()> {
        let r = self.client.get_room(room).context("room not known to the client")?;
        r.send(RoomMessageEventContent::text_plain(text)).await?;
        Ok(())
    }

    /// Plain-text bodies of the room's latest messages, oldest first, as the server has them.
    pub async fn messages(&self, room: &OwnedRoomId) -> anyhow::Result<Vec<(String, String)>> {
        let r = self.client.get_room(room).context("room not known to the client")?;
        let batch = r.messages(MessagesOptions::backward()).await?;
        let mut out = Vec::new();
        for ev in batch.chunk.iter().rev() {
            let Ok(AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(m))) =
                ev.raw().deserialize()
            else {
                continue;
            };
            if let Some(orig) = m.as_original() {
                out.push((m.sender().to_string(), orig.content.body().to_string()));
            }
        }
        Ok(out)
    }
}
