//! What the mayor's client reads of others' standing: power levels in a room, read fresh
//! from the homeserver after a sync, and a user's presence.

use std::time::Duration;

use anyhow::Context;
use matrix_sdk::config::SyncSettings;
use matrix_sdk::ruma::events::room::power_levels::UserPowerLevel;
use matrix_sdk::ruma::{Int, OwnedRoomId, OwnedUserId};

use super::Mayor;

impl Mayor {
    fn joined(&self, room: &OwnedRoomId) -> anyhow::Result<matrix_sdk::Room> {
        self.client
            .get_room(room)
            .with_context(|| format!("the mayor is not in {room}"))
    }

    /// Set `user`'s power level in `room` (the mayor must hold it).
    pub async fn set_power(
        &self,
        room: &OwnedRoomId,
        user: &str,
        level: i64,
    ) -> anyhow::Result<()> {
        self.client
            .sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await?;
        let user = OwnedUserId::try_from(user)?;
        let level = Int::new(level).context("a power level out of range")?;
        self.joined(room)?
            .update_power_levels(vec![(&user, level)])
            .await?;
        Ok(())
    }

    /// `user`'s power level in `room` now (a room creator's unbounded level as i64::MAX).
    pub async fn power_of(&self, room: &OwnedRoomId, user: &str) -> anyhow::Result<i64> {
        self.client
            .sync_once(SyncSettings::default().timeout(Duration::from_secs(1)))
            .await?;
        let user = OwnedUserId::try_from(user)?;
        Ok(
            match self.joined(room)?.get_user_power_level(&user).await? {
                UserPowerLevel::Int(i) => i.into(),
                _ => i64::MAX,
            },
        )
    }
}

impl Mayor {
    /// `user`'s presence and status message, as the homeserver has them now.
    pub async fn presence_of(&self, user: &str) -> anyhow::Result<(String, String)> {
        use matrix_sdk::ruma::api::client::presence::get_presence::v3::Request;
        let user = OwnedUserId::try_from(user)?;
        let got = self.client.send(Request::new(user)).await?;
        Ok((got.presence.to_string(), got.status_msg.unwrap_or_default()))
    }

    /// Wait (up to 60 s) until `user`'s status message contains `want`; the last one seen.
    pub async fn wait_presence(&self, user: &str, want: &str) -> anyhow::Result<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (_, status) = self.presence_of(user).await?;
            if status.contains(want) {
                return Ok(status);
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "{user}'s status never said {want:?}; it says {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
