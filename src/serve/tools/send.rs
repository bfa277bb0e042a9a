//! `send_file`: a file from the resident's home, uploaded into the turn's room now. Root's
//! copy is made as the resident (files::picked); the chat uploads it and says how it went
//! (Ask::FileSent), and the copy goes either way. Rate-limited per resident like
//! `tell_mayor`, so an agent in a loop cannot flood its room with uploads.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::super::Daemon;
use super::tell::Tells;
use crate::files::Post;
use crate::grant::Acls;
use crate::hall::Said;
use crate::machine::Machine;
use crate::tools::Answer;
use crate::turn::RunningTurn;
use crate::units::UserManagers;

/// How long the chat may take to upload one file before the tool says so.
const UPLOAD_WITHIN: Duration = Duration::from_secs(120);

/// Where the chat's word on one upload goes: None when it is in the room, else why not.
type Word = oneshot::Sender<Option<String>>;

/// Files on their way into a room, by id (the last id given, and those open), and the
/// rate they are sent at.
#[derive(Default)]
pub struct Sends {
    rate: Tells,
    open: Mutex<(u64, HashMap<u64, Word>)>,
}

impl Sends {
    fn open(&self) -> (u64, oneshot::Receiver<Option<String>>) {
        let (tx, rx) = oneshot::channel();
        let mut open = self.open.lock().expect("lock");
        open.0 += 1;
        let id = open.0;
        open.1.insert(id, tx);
        (id, rx)
    }

    fn close(&self, id: u64) {
        self.open.lock().expect("lock").1.remove(&id);
    }

    /// The chat's word on upload `id`: None when it is in the room, else why not.
    pub fn sent(&self, id: u64, error: Option<String>) -> Result<(), String> {
        let tx = self.open.lock().expect("lock").1.remove(&id);
        match tx {
            Some(tx) => {
                let _ = tx.send(error);
                Ok(())
            }
            None => Err(format!(
                "no file {id} is on its way (it was answered already, or gave up waiting)"
            )),
        }
    }
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) async fn send_file(
        &self,
        r: &crate::config::Resident,
        turn: &RunningTurn,
        path: String,
        gone: impl std::future::Future<Output = ()>,
    ) -> Answer {
        let reply = match self.room_of_turn(&r.name, turn) {
            Ok(reply) => reply,
            Err(a) => return a,
        };
        if let Err(wait) = self.sends.rate.take(&r.name, Instant::now()) {
            return Answer::refused(format!(
                "refused: {} files in the last minute already; send again in {} s, or put it in your outbox",
                super::tell::PER_MINUTE,
                wait.as_secs().max(1)
            ));
        }
        let file = match self.file_picked(r, &path).await {
            Ok(f) => f,
            Err(why) => return Answer::refused(format!("not sent: {why}")),
        };
        let (name, bytes, copy) = (file.name.clone(), file.bytes, file.path.clone());
        let (id, rx) = self.sends.open();
        let offered = self.broadcast(Said::SendFile {
            id,
            resident: r.name.clone(),
            room: reply.room,
            thread: reply.thread,
            file: file.into(),
        });
        let said = match offered {
            false => Some("the chat is not connected".to_string()),
            true => tokio::select! {
                s = tokio::time::timeout(UPLOAD_WITHIN, rx) => match s {
                    Ok(Ok(said)) => said,
                    Ok(Err(_)) => Some("the chat went away while it uploaded".into()),
                    Err(_) => Some(format!("the upload took over {} s", UPLOAD_WITHIN.as_secs())),
                },
                () = gone => Some("the turn ended first".into()),
            },
        };
        self.sends.close(id);
        self.machine.post().delivered(&[copy]);
        match said {
            None => Answer::ok(format!(
                "sent {name} ({}) into the room",
                crate::os::size(bytes)
            )),
            Some(why) => Answer::refused(format!("not sent: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_chats_word_reaches_the_open_upload_once() {
        let sends = Sends::default();
        let (id, rx) = sends.open();
        sends
            .sent(id, Some("too big for the homeserver".into()))
            .unwrap();
        assert_eq!(
            rx.await.unwrap().as_deref(),
            Some("too big for the homeserver")
        );
        let again = sends.sent(id, None).unwrap_err();
        assert!(again.contains("no file"), "{again}");
        let (other, _rx) = sends.open();
        assert_ne!(other, id, "ids are not reused");
    }
}
