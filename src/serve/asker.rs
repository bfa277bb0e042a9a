//! Who waits on a turn: the chat's connection for a room's message, or root's CLI on the
//! control socket. Each hears, in its own words, that its message was taken, refused, or
//! kept behind the running turn, and the turn's events.

use tokio::sync::mpsc;

use crate::control::Response;
use crate::hall::{self, Said};
use crate::turn::TurnEvent;

#[derive(Clone)]
pub enum Asker {
    Chat(mpsc::Sender<Said>),
    Cli(mpsc::Sender<Response>),
}

impl Asker {
    /// Its message runs now.
    pub async fn accepted(&self) {
        if let Asker::Chat(o) = self {
            let _ = o.send(Said::Accepted).await;
        }
    }

    /// Its message waits behind the running turn, `waiting` of them now.
    pub async fn kept(&self, waiting: usize) {
        let _ = match self {
            Asker::Chat(o) => o.send(Said::Gathered { waiting }).await.is_ok(),
            Asker::Cli(o) => {
                let ahead = waiting as u32;
                let queued = Response::Event(TurnEvent::Queued { ahead });
                o.send(queued).await.is_ok()
            }
        };
    }

    /// Its message was not kept.
    pub async fn refused(&self, notice: String) {
        let _ = match self {
            Asker::Chat(o) => o.send(hall::refused(notice)).await.is_ok(),
            Asker::Cli(o) => o.send(Response::Error { message: notice }).await.is_ok(),
        };
    }

    pub async fn event(&self, ev: TurnEvent) {
        let _ = match self {
            Asker::Chat(o) => o.send(Said::Turn(ev.into())).await.is_ok(),
            Asker::Cli(o) => o.send(Response::Event(ev)).await.is_ok(),
        };
    }
}
