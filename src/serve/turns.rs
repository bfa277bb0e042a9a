//! A message's turn, from the hall to the desk and back: run now or gathered behind the
//! running one, then run in batches until the conversation is idle, its answer streamed to
//! the asker and kept as a delivery until the chat confirms it.

use tokio::sync::mpsc;

use super::Daemon;
use super::asker::Asker;
use crate::control::Response;
use crate::grant::Acls;
use crate::hall::{self, Delivery, Reply, Said};
use crate::machine::Machine;
use crate::turn::TurnEvent;
use crate::turn::conversation::{self, Arrival, Batch, Key, Message, Waiting};
use crate::units::UserManagers;

/// How a turn went, for its lane.
pub(super) enum Went {
    /// Ended: the conversation's next batch runs.
    On,
    /// Interrupted by the daemon stopping: its messages run again after the restart.
    Stopping,
    /// The provider's usage limit refused it: the conversation parks, told in the room.
    Limited(crate::turn::drivers::Limit, String),
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// A room's message for a conversation.
    pub(super) async fn hall_turn(
        &self,
        resident: String,
        sender: String,
        conversation: String,
        prompt: String,
        reply: Reply,
        out: mpsc::Sender<Said>,
    ) {
        tracing::info!(%resident, %sender, %conversation, "turn asked in chat");
        if self.town().matrix.mayors.contains(&sender) {
            self.hops.mayor_spoke(&reply.room);
        }
        let w = Waiting {
            sender,
            prompt,
            reply,
            again: false,
            came: None,
        };
        let key = (resident, conversation);
        self.ask(key, Message::Chat(w), Asker::Chat(out)).await
    }

    /// Every message, from a room or root's CLI, comes here: its turn runs now, or it
    /// waits for the running one to end (the conversation state says which).
    pub(super) async fn ask(&self, key: Key, message: Message, asker: Asker) {
        let tell = asker.clone();
        match self.conversations.arrive(key.clone(), message, asker) {
            Arrival::Refused(notice, asker) => asker.refused(notice).await,
            Arrival::Kept(waiting) => tell.kept(waiting).await,
            Arrival::Run(batch) => {
                tell.accepted().await;
                drop(tell);
                self.run_lane(&key, batch).await
            }
        }
    }

    /// Run `batch`, then whatever the conversation's turn ends hand out, until it is idle
    /// (or a usage limit parks it).
    pub(super) async fn run_lane(&self, key: &Key, mut batch: Batch<Asker>) {
        loop {
            let went = match batch {
                Batch::Room(b) => self.run_room(key, b).await,
                Batch::Cli {
                    prompt,
                    fresh,
                    asker,
                } => match self.run_cli(key, &prompt, fresh, asker).await {
                    true => Went::On,
                    false => Went::Stopping,
                },
            };
            match went {
                Went::On => {}
                Went::Stopping => return,
                Went::Limited(l, room) => return self.park(key, l, room),
            }
            match self.conversations.ended(key) {
                Some(b) => batch = b,
                None => return,
            }
        }
    }

    /// A turn of root's CLI: its events and outcome go to the caller. False when the
    /// daemon is stopping.
    async fn run_cli(&self, key: &Key, prompt: &str, fresh: bool, asker: Option<Asker>) -> bool {
        let (tx, mut rx) = mpsc::channel(64);
        let forward = async {
            while let Some(ev) = rx.recv().await {
                if let Some(a) = &asker {
                    a.event(ev).await;
                }
            }
        };
        let (result, ()) = tokio::join!(self.turn(&key.0, &key.1, prompt, fresh, tx), forward);
        if let Some(Asker::Cli(out)) = &asker {
            let answer = match result {
                Ok(outcome) => Response::TurnDone(outcome),
                Err(e) => Response::Error {
                    message: e.to_string(),
                },
            };
            let _ = out.send(answer).await;
        }
        !self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// One turn for one or more messages; the answer streams to the first asker still
    /// connected, and is kept as a delivery until the chat confirms it. Stopping when the
    /// daemon is: the turn was interrupted, and its messages stay on disk to run again
    /// after the restart.
    async fn run_room(&self, key: &Key, batch: Vec<(Waiting, Option<Asker>)>) -> Went {
        let (resident, conversation) = (key.0.as_str(), key.1.as_str());
        let mut prompt = conversation::prompt(&batch);
        let received = self.received.take(resident, conversation);
        if !received.is_empty() {
            prompt = format!("{}\n\n{prompt}", received.join("\n"));
        }
        // The first message leads: the answer replies to it, streamed if its asker is still
        // connected, else kept as a delivery (after a restart). A later asker never leads,
        // or its answer could show in the room ahead of the earlier messages it answers.
        let reply = batch[0].0.reply.clone();
        let came = batch[0].0.came.clone();
        // A schedule's message has no event in the room to answer.
        let answers: Vec<String> = batch
            .iter()
            .map(|(w, _)| w.reply.event.clone())
            .filter(|e| !e.is_empty())
            .collect();
        let mut out = None;
        for (i, (_, asker)) in batch.into_iter().enumerate() {
            match asker {
                Some(Asker::Chat(o)) if i == 0 => out = Some(o),
                Some(Asker::Chat(o)) => {
                    let _ = o
                        .send(Said::Joined {
                            into: reply.event.clone(),
                        })
                        .await;
                }
                _ => {}
            }
        }
        let (tx, mut rx) = mpsc::channel(64);
        let forward = async {
            let (mut text, mut last, mut errors) = (String::new(), None, Vec::new());
            while let Some(ev) = rx.recv().await {
                match &ev {
                    TurnEvent::Text { text: t } => text.push_str(t),
                    TurnEvent::Final { text: t } => last = Some(t.clone()),
                    TurnEvent::Error { message: note } | TurnEvent::Notice { text: note } => {
                        errors.push(note.clone())
                    }
                    _ => {}
                }
                if let Some(o) = &out {
                    let _ = o.send(Said::Turn(ev.into())).await;
                }
            }
            if text.trim().is_empty() {
                (last.unwrap_or_default(), errors)
            } else {
                (text, errors)
            }
        };
        self.approvals
            .room(resident, conversation, Some(reply.clone()));
        let (result, (text, mut errors)) = tokio::join!(
            self.turn(resident, conversation, &prompt, false, tx),
            forward
        );
        self.approvals.room(resident, conversation, None);
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::info!(%resident, %conversation, "a turn interrupted by the daemon stopping: it runs again after the restart");
            return Went::Stopping;
        }
        let mut said = errors.clone();
        said.push(text.clone());
        if let Ok(o) = &result {
            said.extend(o.stderr_tail.iter().cloned());
        }
        let limited = self
            .limited(resident, said)
            .map(|l| (l, reply.room.clone()));
        let (outcome, error) = match result {
            Ok(mut o) => {
                (o.files, o.files_left) = self.files_out(resident).await;
                (Some(hall::Outcome::from(o)), None)
            }
            Err(e) => (None, Some(e.to_string())),
        };
        errors.extend(error.clone());
        let kept = self.deliveries.add(Delivery {
            id: 0,
            resident: resident.into(),
            reply,
            text,
            errors,
            outcome: outcome.clone(),
            answers,
            came,
        });
        let told = match &out {
            Some(o) if !o.is_closed() => o
                .send(Said::TurnDone {
                    delivery: kept.id,
                    outcome,
                    error,
                })
                .await
                .is_ok(),
            _ => false,
        };
        // The asker went away (the chat restarted): the chat that subscribes posts it.
        if !told {
            tracing::info!(
                delivery = kept.id,
                "no chat waits for this answer: kept for it"
            );
            self.broadcast(Said::Deliver(kept));
        }
        match limited {
            Some((l, room)) => Went::Limited(l, room),
            None => Went::On,
        }
    }
}
