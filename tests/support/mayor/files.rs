//! Files between the mayor and the residents, sent and downloaded (and decrypted) as
//! Element does.

use anyhow::Context;
use matrix_sdk::ruma::OwnedRoomId;

use super::Mayor;

impl Mayor {
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

    /// (file name, declared (width, height), sent encrypted, bytes) of every image `from`
    /// sent in the room, downloaded and decrypted as Element would.
    pub async fn images_from(
        &self,
        room: &OwnedRoomId,
        from: &str,
    ) -> anyhow::Result<Vec<(String, Option<(u64, u64)>, bool, Vec<u8>)>> {
        use matrix_sdk::media::{MediaFormat, MediaRequestParameters};
        use matrix_sdk::ruma::events::room::MediaSource;
        use matrix_sdk::ruma::events::room::message::MessageType;
        let mut out = Vec::new();
        for (sender, c) in self.latest(room).await? {
            let MessageType::Image(i) = &c.msgtype else {
                continue;
            };
            if sender != from {
                continue;
            }
            let declared = i
                .info
                .as_ref()
                .and_then(|info| Some((u64::from(info.width?), u64::from(info.height?))));
            let encrypted = matches!(i.source, MediaSource::Encrypted(_));
            let request = MediaRequestParameters {
                source: i.source.clone(),
                format: MediaFormat::File,
            };
            let bytes = self
                .client
                .media()
                .get_media_content(&request, false)
                .await?;
            out.push((i.filename().to_string(), declared, encrypted, bytes));
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
}
