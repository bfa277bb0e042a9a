//! The chat process's side of the hall.

use std::io;
use std::path::PathBuf;

use super::{Ask, Envelope, Said};
use crate::lines::{self, Answers};

#[derive(Debug, thiserror::Error)]
pub enum HallError {
    #[error(
        "the townhall daemon is not answering on {path} ({source})\n  help: is townhall.service running? `systemctl status townhall`"
    )]
    Down { path: PathBuf, source: io::Error },
    #[error("talking to the townhall daemon on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the townhall daemon answered something this chat does not understand: {0}")]
    Protocol(String),
    #[error("{0}")]
    Refused(String),
    /// The daemon went away before it took a message, and did not come back in time.
    #[error("the supervisor did not take the message; send it again")]
    NotTaken,
}

const WAIT_FOR_DAEMON: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Counter {
    pub path: PathBuf,
}

/// A stream of answers to one request.
pub struct Replies {
    answers: Answers,
    path: PathBuf,
}

impl Replies {
    /// The next answer, None once the daemon is done; a refusal is an error.
    pub async fn next(&mut self) -> Result<Option<Said>, HallError> {
        let path = self.path.clone();
        match self
            .answers
            .next::<Said>()
            .await
            .map_err(|source| HallError::Io { path, source })?
        {
            Err(e) => Err(HallError::Protocol(e)),
            Ok(Some(Said::Error { message })) => Err(HallError::Refused(message)),
            Ok(s) => Ok(s),
        }
    }
}

impl Counter {
    pub fn new() -> Self {
        Self {
            path: super::socket().to_path_buf(),
        }
    }

    /// Ask, and keep the connection open while the answers come (the daemon sees us leave).
    /// A daemon that is restarting is waited for, up to a minute: a message that arrives
    /// meanwhile is answered once it is back.
    pub async fn open(&self, ask: Ask) -> Result<Replies, HallError> {
        let envelope = Envelope::new(ask);
        let deadline = std::time::Instant::now() + WAIT_FOR_DAEMON;
        let mut pause = std::time::Duration::from_millis(100);
        loop {
            match lines::ask(&self.path, &envelope, true).await {
                Ok(answers) => {
                    return Ok(Replies {
                        answers,
                        path: self.path.clone(),
                    });
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                    ) && std::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(2));
                }
                Err(source) => {
                    return Err(HallError::Down {
                        path: self.path.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// Ask for one answer.
    pub async fn call(&self, ask: Ask) -> Result<Said, HallError> {
        let mut s = self.open(ask).await?;
        let mut last = None;
        while let Some(a) = s.next().await? {
            last = Some(a);
        }
        last.ok_or_else(|| HallError::Protocol("no answer".into()))
    }

    /// Ask, and take the request's own reply out of what was said (`pick` gives back what
    /// is not it): any other answer is a protocol error, a refusal is `Refused`.
    pub async fn ask_for<T>(
        &self,
        ask: Ask,
        pick: impl FnOnce(Said) -> Result<T, Box<Said>>,
    ) -> Result<T, HallError> {
        pick(self.call(ask).await?)
            .map_err(|other| HallError::Protocol(format!("unexpected answer {other:?}")))
    }
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}
