//! Files in the rooms: what a mayor sends is downloaded (decrypted), checked against the
//! resident's size cap and handed to root for its inbox; what a turn left in its outbox is
//! uploaded under the answer.

use std::path::{Path, PathBuf};

use super::bot::Backend;
use super::{Chat, FileRef};
use townhall_os::{OsContext, OsError, size};
use townhall_wire::hall::{HallError, Outgoing};

/// Why a file a mayor sent was not put in the inbox, in words for the room.
#[derive(Debug, thiserror::Error)]
pub enum NotSaved {
    #[error("{0} is not a resident of this town")]
    NoResident(String),
    #[error(
        "{name} is {}, over the {} {resident} takes: not saved. (`[files] max_size` in its config sets it.)",
        size(*.bytes),
        size(*.max)
    )]
    TooBig {
        name: String,
        bytes: u64,
        max: u64,
        resident: String,
    },
    #[error(transparent)]
    Download(OsError),
    #[error("spooling {name}: {source}")]
    Spool {
        name: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Hall(#[from] HallError),
}

/// Download `file` and have root put it in the inbox; the markdown to say.
pub async fn receive<B: Backend, C: Chat>(
    backend: &B,
    chat: &C,
    resident: &str,
    sender: &str,
    conversation: &str,
    file: &FileRef,
) -> Result<String, NotSaved> {
    let town = backend.town();
    let max = town
        .resident(resident)
        .map(|r| r.files.max_bytes)
        .ok_or_else(|| NotSaved::NoResident(resident.into()))?;
    let over = |bytes: u64| NotSaved::TooBig {
        name: file.name.clone(),
        bytes,
        max,
        resident: resident.into(),
    };
    if let Some(n) = file.size.filter(|n| *n > max) {
        return Err(over(n));
    }
    let bytes = chat.download(file).await.map_err(NotSaved::Download)?;
    if bytes.len() as u64 > max {
        return Err(over(bytes.len() as u64));
    }
    let path = backend
        .file(resident, sender, conversation, file, bytes)
        .await?;
    Ok(format!(
        "_Saved as `{path}`; {resident}'s next turn here is told where it is._"
    ))
}

/// Spool `bytes` and ask root to take them into `resident`'s inbox; where they went.
pub async fn hand_over(
    counter: &townhall_wire::hall::Counter,
    store: &Path,
    [resident, sender, conversation]: [&str; 3],
    file: &FileRef,
    bytes: &[u8],
) -> Result<String, NotSaved> {
    use townhall_wire::hall::{Ask, Said};
    let spooled = spool(store, bytes).map_err(|source| NotSaved::Spool {
        name: file.name.clone(),
        source,
    })?;
    let mimetype = file.mimetype.clone().unwrap_or_else(|| {
        mime_guess::from_path(&file.name)
            .first_or_octet_stream()
            .essence_str()
            .to_string()
    });
    let ask = Ask::File {
        resident: resident.into(),
        sender: sender.into(),
        conversation: conversation.into(),
        name: file.name.clone(),
        mimetype,
        spool: spooled.display().to_string(),
    };
    let filed = counter
        .ask_for(ask, |s| match s {
            Said::Filed { path } => Ok(path),
            other => Err(Box::new(other)),
        })
        .await;
    let _ = std::fs::remove_file(&spooled);
    Ok(filed?)
}

/// Write `bytes` to a new file in the chat's spool (private to its user); its path.
pub fn spool(store: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = store.join("spool");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path = dir.join(format!("{stamp}-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(bytes)?;
    Ok(path)
}

/// Upload the answer's files into its room (and thread); a line for each that failed.
pub async fn post<C: Chat>(
    chat: &C,
    room: &str,
    thread: Option<&str>,
    files: &[Outgoing],
    max: u64,
) -> Vec<String> {
    let mut failed = Vec::new();
    for f in files {
        let sent = match read_outgoing(f, max) {
            Ok(bytes) => chat.upload(room, thread, &f.name, &f.mimetype, bytes).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            tracing::warn!("posting {}: {e}", f.name);
            failed.push(format!("{} was not sent: {e}", f.name));
        }
    }
    failed
}

/// Root's hand-over copy of a file to post, at most `max` bytes of it.
fn read_outgoing(o: &Outgoing, max: u64) -> Result<Vec<u8>, OsError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(&o.path)
        .os(|| format!("reading {}", o.path.display()))?
        .take(max)
        .read_to_end(&mut bytes)
        .os(|| format!("reading {}", o.path.display()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeChat;

    #[tokio::test]
    async fn outbox_files_are_uploaded_and_failures_said() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0-plot.png");
        std::fs::write(&path, b"png").unwrap();
        let f = Outgoing {
            name: "plot.png".into(),
            mimetype: "image/png".into(),
            bytes: 3,
            path,
        };
        let chat = FakeChat::default();
        assert!(
            post(&chat, "!r", Some("$t"), std::slice::from_ref(&f), 100)
                .await
                .is_empty()
        );
        assert_eq!(
            chat.calls.calls(),
            ["upload !r thread=$t plot.png image/png 3 bytes"]
        );
        chat.fail("upload", 1);
        let failed = post(&chat, "!r", None, &[f], 100).await;
        assert!(failed[0].starts_with("plot.png was not sent"), "{failed:?}");
        let spooled = spool(dir.path(), b"abc").unwrap();
        assert_eq!(std::fs::read(&spooled).unwrap(), b"abc");
        assert_eq!(spooled.parent().unwrap(), dir.path().join("spool"));
    }
}
