//! What the mayor's client reads of others' standing: power levels in a room, read fresh
//! from the homeserver after a sync.

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
