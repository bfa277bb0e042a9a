//! The chat process's side of the hall.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::{Ask, Envelope, Said};
use crate::backoff::Backoff;
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

/// How long a request waits for a daemon that is restarting, and its pauses meanwhile.
const WAIT_FOR_DAEMON: Duration = Duration::from_secs(60);
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LAST_PAUSE: Duration = Duration::from_secs(2);

impl HallError {
    /// The daemon is not there (yet): restarting, or its socket not made yet. A request
    /// whose write failed (the stopping daemon closed its listener with us in the backlog)
    /// never reached it either, so asking again cannot run it twice.
    pub fn restarting(&self) -> bool {
        matches!(self, HallError::Down { source, .. } if matches!(
            source.kind(),
            io::ErrorKind::NotFound
                | io::ErrorKind::ConnectionRefused
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
        ))
    }

    /// The daemon went away while it answered: asking again may reach its successor.
    pub fn interrupted(&self) -> bool {
        self.restarting() || matches!(self, HallError::Io { .. })
    }
}

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
            Err(e) => Err(HallError::Protocol(e.to_string())),
            Ok(Some(Said::Error { message })) => Err(HallError::Refused(message)),
            Ok(s) => Ok(s),
        }
    }

    /// Read to the end: the last answer is the reply.
    pub async fn last(mut self) -> Result<Said, HallError> {
        let mut last = None;
        while let Some(a) = self.next().await? {
            last = Some(a);
        }
        last.ok_or_else(|| HallError::Protocol("no answer".into()))
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
        let mut backoff = Backoff::within(FIRST_PAUSE, LAST_PAUSE, WAIT_FOR_DAEMON);
        loop {
            match self.open_once(ask.clone()).await {
                Err(e) if e.restarting() => match backoff.failed() {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => return Err(e),
                },
                r => return r,
            }
        }
    }

    /// Ask once: a daemon that is not there is `Down` at once (for loops that retry
    /// themselves, so that no retry waits inside another).
    pub async fn open_once(&self, ask: Ask) -> Result<Replies, HallError> {
        match lines::ask(&self.path, &Envelope::new(ask), true).await {
            Ok(answers) => Ok(Replies {
                answers,
                path: self.path.clone(),
            }),
            Err(source) => Err(HallError::Down {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Ask for one answer.
    pub async fn call(&self, ask: Ask) -> Result<Said, HallError> {
        self.open(ask).await?.last().await
    }

    /// Ask, and wait for the first answer: a daemon that is restarting, or goes away before
    /// it answers, is asked again (for up to WAIT_FOR_DAEMON), so what must reach it is not
    /// lost between the two. The rest of the answers follow on the Replies.
    pub async fn first_through_restarts(&self, ask: Ask) -> Result<(Replies, Said), HallError> {
        let mut backoff = Backoff::within(FIRST_PAUSE, LAST_PAUSE, WAIT_FOR_DAEMON);
        loop {
            let e = match self.open_once(ask.clone()).await {
                Ok(mut replies) => match replies.next().await {
                    Ok(Some(first)) => return Ok((replies, first)),
                    Ok(None) => HallError::NotTaken,
                    Err(e) => e,
                },
                Err(e) => e,
            };
            if !(e.interrupted() || matches!(e, HallError::NotTaken)) {
                return Err(e);
            }
            let Some(pause) = backoff.failed() else {
                return Err(e);
            };
            tracing::info!("the daemon is not there to answer ({e}): asking again");
            tokio::time::sleep(pause).await;
        }
    }

    /// Ask for one answer through restarts (`first_through_restarts`).
    pub async fn call_through_restarts(&self, ask: Ask) -> Result<Said, HallError> {
        let (mut rest, mut last) = self.first_through_restarts(ask).await?;
        while let Some(a) = rest.next().await? {
            last = a;
        }
        Ok(last)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn down(kind: io::ErrorKind) -> HallError {
        HallError::Down {
            path: "/run/townhall-hall.sock".into(),
            source: kind.into(),
        }
    }

    #[test]
    fn a_request_that_never_reached_the_daemon_is_asked_again() {
        for kind in [
            io::ErrorKind::NotFound,
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::ConnectionReset,
        ] {
            assert!(down(kind).restarting(), "{kind:?}");
        }
        assert!(!down(io::ErrorKind::PermissionDenied).restarting());
    }
}
