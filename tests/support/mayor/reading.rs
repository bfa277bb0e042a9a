//! What the mayor reads in a room: the messages after a mark, each resident's (and whether
//! an edit), threads and who is typing, and waits until a resident has said what a check
//! wants.

use std::time::Duration;

use anyhow::Context;
use matrix_sdk::ruma::OwnedRoomId;
use matrix_sdk::ruma::events::AnySyncMessageLikeEvent;
use matrix_sdk::ruma::events::AnySyncTimelineEvent;
use matrix_sdk::ruma::events::room::message::RoomMessageEventContent;

use super::{Mark, Mayor};

impl Mayor {
    /// The room's latest 100 messages as sent (not redacted), oldest first, after a sync.
    pub(super) async fn latest(
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
    pub async fn sent_since(
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

    /// The users message `event` mentions (its m.mentions), as a phone's push rules read them.
    pub async fn mentions(&self, room: &OwnedRoomId, event: &str) -> anyhow::Result<Vec<String>> {
        let (_, _, c) = self
            .events_after(room, None)
            .await?
            .into_iter()
            .find(|(id, _, _)| id == event)
            .with_context(|| format!("no message {event} among {room}'s latest"))?;
        Ok(c.mentions
            .map(|m| m.user_ids.iter().map(|u| u.to_string()).collect())
            .unwrap_or_default())
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
