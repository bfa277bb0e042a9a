//! The daemon's side of the hall: what the chat process may ask, checked and answered.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::Daemon;
use crate::grant::Acls;
use crate::hall::{self, Ask, Envelope, Said};
use crate::machine::Machine;
use crate::units::UserManagers;
use townhall_wire::lines::{self, Rules};

/// Connections the chat may hold at once: one per message waiting for its answer, per
/// tail and per subscription, for every resident's rooms.
const HALL_PER_CHAT: usize = 4096;

/// Only the chat user (and root) may ask; resolved at each connection, so a chat user made
/// after the daemon started is let in.
fn permitted(uid: u32) -> bool {
    uid == 0
        || nix::unistd::User::from_name(hall::CHAT_USER)
            .ok()
            .flatten()
            .is_some_and(|u| u.uid.as_raw() == uid)
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// Answer the chat process on the hall socket.
    pub(super) async fn serve_hall(self: Arc<Self>, listener: tokio::net::UnixListener) {
        let rules = Rules {
            name: "the hall",
            permit: Box::new(permitted),
            // The chat holds one per asking message, tail and subscription; anyone else is
            // refused, and needs no second connection to hear it.
            per_uid: Box::new(|uid| if permitted(uid) { HALL_PER_CHAT } else { 2 }),
            refused: "only the townhall-chat user may use this socket",
            max_line: hall::MAX_LINE,
            watch_peer: true,
        };
        lines::serve(
            listener,
            Arc::new(rules),
            Envelope::parse,
            move |req: Envelope, uid, out| {
                let daemon = self.clone();
                async move { daemon.hall(req.ask, uid, out).await }
            },
        )
        .await
    }

    async fn hall(&self, ask: Ask, uid: u32, out: mpsc::Sender<Said>) {
        let town = self.town();
        let checked = match hall::validate(&town, ask) {
            Ok(c) => c,
            Err(refusal) => {
                tracing::warn!(uid, "refused a chat request: {refusal}");
                let _ = out.send(hall::refused(refusal)).await;
                return;
            }
        };
        let answer = match checked.ask {
            Ask::Subscribe => return self.subscribe(out).await,
            Ask::Turn {
                resident,
                sender,
                conversation,
                prompt,
                reply,
            } => {
                return self
                    .hall_turn(resident, sender, conversation, prompt, reply, out)
                    .await;
            }
            // validate resolved the resident a stop names; there is no uid to guess.
            Ask::Stop { resident, sender } => match checked.resident {
                None => Said::Error {
                    message: format!("no resident named {resident}"),
                },
                Some(r) => {
                    tracing::info!(%resident, %sender, "stop asked in chat");
                    // What a usage limit holds is dropped too: nothing runs again by itself.
                    let parked = self.conversations.cancel_parked(&resident) as u32;
                    match self.desk.stop_resident(&resident, r.uid).await {
                        Ok(turns) => Said::Stopped {
                            turns: turns + parked,
                        },
                        Err(e) => hall::refused(e),
                    }
                }
            },
            Ask::Resume { resident, sender } => {
                tracing::info!(%resident, %sender, "resume asked in chat");
                match self.conversations.wake_now(&resident) {
                    0 => hall::refused(format!("nothing of {resident}'s waits for a usage limit")),
                    _ => Said::Done,
                }
            }
            Ask::Forget {
                resident,
                conversation,
                ..
            } => match self.desk.forget(&resident, &conversation) {
                Ok(()) => Said::Done,
                Err(e) => hall::refused(e),
            },
            Ask::Status { resident } => self
                .report(&resident)
                .map_or_else(hall::refused, Said::Status),
            Ask::Cost {
                resident,
                conversation,
            } => self
                .cost(&resident, &conversation)
                .map_or_else(hall::refused, Said::Cost),
            Ask::Session {
                resident,
                conversation,
            } => Said::Session {
                id: self.desk.session(&resident, &conversation),
            },
            Ask::Log { resident } => Said::LastTurn {
                outcome: self
                    .last_turn
                    .lock()
                    .expect("lock")
                    .get(&resident)
                    .cloned()
                    .map(Into::into),
            },
            Ask::Branches { resident } => Said::Branches {
                repos: crate::remote::branches(&town, &resident),
                worktrees: self.worktrees(&resident).await,
            },
            Ask::Network { resident, sender } => Said::Network {
                residents: self.network_report(&resident, &sender),
            },
            Ask::ResetReport { resident, .. } => {
                let t = town.clone();
                let losses = tokio::task::spawn_blocking(move || {
                    t.residents
                        .iter()
                        .filter(|r| resident.as_ref().is_none_or(|n| *n == r.name))
                        .map(|r| hall::LossReport::from(&crate::round::losses(&t, r)))
                        .collect()
                });
                match losses.await {
                    Ok(residents) => Said::Losses { residents },
                    Err(e) => hall::refused(e),
                }
            }
            Ask::Checkpoint {
                resident,
                by,
                label,
            } => match self.checkpoint(&resident, &by, &label).await {
                Ok(checkpoints) => Said::Checkpoints { checkpoints },
                Err(e) => hall::refused(e),
            },
            Ask::Checkpoints { resident } => Said::Checkpoints {
                checkpoints: self.checkpoints(&resident),
            },
            Ask::Rollback { resident, by, n } => match self.rollback(&resident, &by, n).await {
                Ok(summary) => Said::ResetDone(summary),
                Err(e) => hall::refused(e),
            },
            Ask::Reset { by, resident } => match self.reset(&by, resident).await {
                Ok(summary) => Said::ResetDone(summary),
                Err(e) => hall::refused(e),
            },
            Ask::Every {
                resident,
                by,
                on,
                prompt,
                room,
            } => {
                let made = crate::schedule::Made {
                    n: 0,
                    resident,
                    on,
                    prompt,
                    room,
                    by,
                };
                match self.every(made).await {
                    Ok(schedules) => Said::Schedules { schedules },
                    Err(e) => hall::refused(e),
                }
            }
            Ask::Schedules { resident } => Said::Schedules {
                schedules: self.schedules_of(&resident).await,
            },
            Ask::Unschedule { resident, n, .. } => match self.unschedule(&resident, n).await {
                Ok(schedules) => Said::Schedules { schedules },
                Err(e) => hall::refused(e),
            },
            Ask::Decide {
                id,
                resident,
                by,
                allow,
                round,
            } => self
                .decide(id, &resident, &by, allow, round)
                .map_or_else(hall::refused, |()| Said::Done),
            Ask::Mode {
                resident,
                conversation,
                change,
                ..
            } => self
                .mode(&resident, &conversation, &change)
                .unwrap_or_else(hall::refused),
            Ask::Usage { resident, days, .. } => match self.usage(&resident, days).await {
                Ok(days) => Said::Usage { days },
                Err(e) => hall::refused(e),
            },
            Ask::History { resident, n, .. } => match self.history(&resident, n) {
                Ok(lines) => Said::History { lines },
                Err(e) => Said::Error {
                    message: e.to_string(),
                },
            },
            Ask::Approvals {
                resident, clear, ..
            } => Said::Approvals {
                rules: self.round_rules(&resident, clear),
            },
            Ask::Answer {
                id,
                resident,
                by,
                answer,
            } => self
                .answered(id, &resident, &by, answer)
                .map_or_else(hall::refused, |()| Said::Done),
            Ask::FileSent { id, error } => match self.sends.sent(id, error) {
                Ok(()) => Said::Done,
                Err(why) => Said::Error { message: why },
            },
            Ask::Devices => Said::Devices {
                devices: hall::all(self.keeper.status()),
            },
            Ask::Lease {
                by,
                device,
                resident,
                secs,
            } => self
                .lease(&device, &resident, secs, &by)
                .map_or_else(hall::refused, |l| Said::Leased(l.into())),
            Ask::Release { by, device } => {
                self.release(&device, &by)
                    .map_or_else(hall::refused, |leases| Said::Released {
                        leases: hall::all(leases),
                    })
            }
            Ask::Tail { by, device, baud } => return self.tail(&device, baud, &by, out).await,
            Ask::Untail { device, .. } => self
                .untail(&device)
                .map_or_else(hall::refused, |()| Said::Done),
            Ask::File {
                resident,
                sender,
                conversation,
                name,
                mimetype,
                spool,
            } => match self
                .file_in(&resident, &sender, &conversation, &name, &mimetype, &spool)
                .await
            {
                Ok(path) => Said::Filed { path },
                Err(e) => hall::refused(e),
            },
            Ask::Delivered { id } => {
                if let Some(d) = self.deliveries.remove(id) {
                    self.delivered(d.outcome.as_ref().map_or(&[][..], |o| &o.files));
                }
                Said::Done
            }
            Ask::Health { resident, health } => {
                self.chat_health(&resident, health);
                Said::Done
            }
            Ask::Audit {
                resident,
                what,
                from,
                room,
                why,
            } => {
                let detail = serde_json::json!({ "resident": resident, "from": from, "room": room, "why": why });
                if let Err(e) = crate::audit::append(&town.state, what.event(), &detail) {
                    tracing::warn!("{e}");
                }
                Said::Done
            }
        };
        let _ = out.send(answer).await;
    }

    /// The chat stays connected: say hello, what waited for it, and every unconfirmed answer.
    async fn subscribe(&self, out: mpsc::Sender<Said>) {
        let _ = out
            .send(Said::Welcome {
                version: hall::VERSION,
            })
            .await;
        self.teller.outbox.open();
        let waiting = self.teller.take_pending();
        for (resident, notices) in waiting {
            for notice in notices {
                let _ = out
                    .send(Said::Notice {
                        resident: resident.clone(),
                        notice,
                    })
                    .await;
            }
        }
        for d in self.deliveries.all() {
            let _ = out.send(Said::Deliver(d)).await;
        }
        // What each resident does now, so a bot's presence is right from its start.
        for r in &self.town().residents {
            self.doing.untold(&r.name);
            self.tell_doing(&r.name);
        }
        tracing::info!("the chat process subscribed");
        // Held until the chat goes: then status must not go on saying its bots sync.
        let left = self.teller.outbox.serve(&out).await;
        self.teller.keep(left);
        if self.teller.outbox.subscribed() == 0 {
            tracing::warn!("the chat process went away");
            for r in &self.town().residents {
                self.chat_health(
                    &r.name,
                    "the chat process (townhall-chat) is not connected".into(),
                );
            }
        }
    }

    /// Hand `said` to the subscribed chat (outbox.rs); false when none is, or its
    /// resident's queue is full.
    pub(super) fn broadcast(&self, said: Said) -> bool {
        self.teller.outbox.push(said)
    }
}
