//! The daemon's side of the hall: what the chat process may ask, checked and answered.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::Daemon;
use super::declined::Declined;
use super::gather::{self, Arrival, Asked, Waiting};
use crate::grant::Acls;
use crate::hall::{self, Ask, Delivery, Envelope, Reply, ResidentReport, Said};
use crate::machine::Machine;
use crate::turn::TurnEvent;
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

/// Memory and CPU time of a uid's processes, as sysinfo sees them.
fn usage(uid: u32) -> (usize, u64, u64) {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
    let mut sys = System::new();
    let what = ProcessRefreshKind::nothing()
        .with_memory()
        .with_cpu()
        .with_user(UpdateKind::Always);
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, what);
    let mine: Vec<_> = sys
        .processes()
        .values()
        .filter(|p| p.user_id().is_some_and(|u| **u == uid))
        .collect();
    let memory = mine.iter().map(|p| p.memory()).sum();
    let cpu_ms = mine.iter().map(|p| p.accumulated_cpu_time()).sum();
    (mine.len(), memory, cpu_ms)
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
                    match self.desk.stop_resident(&resident, r.uid).await {
                        Ok(turns) => Said::Stopped { turns },
                        Err(e) => hall::refused(e),
                    }
                }
            },
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
            },
            Ask::ResetReport { .. } => {
                let t = town.clone();
                let losses = tokio::task::spawn_blocking(move || {
                    t.residents
                        .iter()
                        .map(|r| hall::LossReport::from(&crate::round::losses(&t, r)))
                        .collect()
                });
                match losses.await {
                    Ok(residents) => Said::Losses { residents },
                    Err(e) => hall::refused(e),
                }
            }
            Ask::Reset { by } => match self.reset(&by).await {
                Ok(summary) => Said::ResetDone(summary),
                Err(e) => hall::refused(e),
            },
            Ask::Decide { id, by, allow } => self
                .decide(id, &by, allow)
                .map_or_else(hall::refused, |()| Said::Done),
            Ask::Devices => Said::Devices {
                devices: hall::all(self.keeper.status()),
            },
            Ask::Lease {
                by,
                device,
                resident,
                secs,
            } => self.lease(&device, &resident, secs, &by).map_or_else(
                hall::refused,
                |l| Said::Leased(l.into()),
            ),
            Ask::Release { by, device } => self.release(&device, &by).map_or_else(
                hall::refused,
                |leases| Said::Released {
                    leases: hall::all(leases),
                },
            ),
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
                    super::files::delivered(d.outcome.as_ref().map_or(&[][..], |o| &o.files));
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

    /// A message for a conversation: its turn runs now, or it waits for the running one to
    /// end and goes into the next with whatever else waited (gather.rs).
    async fn hall_turn(
        &self,
        resident: String,
        sender: String,
        conversation: String,
        prompt: String,
        reply: Reply,
        out: mpsc::Sender<Said>,
    ) {
        tracing::info!(%resident, %sender, %conversation, "turn asked in chat");
        let w = Waiting {
            sender,
            prompt,
            reply,
            again: false,
        };
        match self
            .gathering
            .arrive(&resident, &conversation, w.clone(), out.clone())
        {
            Err((notice, out)) => {
                let _ = out.send(hall::refused(notice)).await;
            }
            Ok(Arrival::Kept(waiting)) => {
                let _ = out.send(Said::Gathered { waiting }).await;
            }
            Ok(Arrival::RunNow) => {
                let _ = out.send(Said::Accepted).await;
                self.run_lane(&resident, &conversation, vec![(w, Some(out))])
                    .await
            }
        }
    }

    /// Run `batch`, then whatever gathered meanwhile, until the conversation is idle.
    pub(super) async fn run_lane(&self, resident: &str, conversation: &str, mut batch: Vec<Asked>) {
        loop {
            if !self.run_batch(resident, conversation, batch).await {
                return;
            }
            match self.gathering.next(resident, conversation) {
                Some(b) => batch = b,
                None => return,
            }
        }
    }

    /// One turn for one or more messages; the answer streams to the first asker still
    /// connected, and is kept as a delivery until the chat confirms it. False when the
    /// daemon is stopping: the turn was interrupted, and its messages stay on disk to run
    /// again after the restart.
    async fn run_batch(&self, resident: &str, conversation: &str, batch: Vec<Asked>) -> bool {
        let mut prompt = gather::prompt(&batch);
        let received = self.received.take(resident, conversation);
        if !received.is_empty() {
            prompt = format!("{}\n\n{prompt}", received.join("\n"));
        }
        // The first asker still connected leads (else the first message, answered by delivery).
        let lead = batch
            .iter()
            .position(|(_, a)| a.as_ref().is_some_and(|o| !o.is_closed()))
            .unwrap_or(0);
        let reply = batch[lead].0.reply.clone();
        let mut out = None;
        for (i, (_, asker)) in batch.into_iter().enumerate() {
            match asker {
                Some(o) if i == lead => out = Some(o),
                Some(o) => {
                    let _ = o
                        .send(Said::Joined {
                            into: reply.event.clone(),
                        })
                        .await;
                }
                None => {}
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
            return false;
        }
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
        true
    }

    fn report(&self, resident: &str) -> Result<ResidentReport, Declined> {
        let town = self.town();
        let Some(r) = town.resident(resident) else {
            return Ok(ResidentReport::default());
        };
        let rounds = crate::round::RoundState::new(&town.state);
        let round = rounds.round()?;
        let (processes, memory_bytes, cpu_ms) = usage(r.uid);
        Ok(ResidentReport {
            resident: resident.into(),
            round,
            uptime_secs: self.started.elapsed().as_secs(),
            turns: self
                .desk
                .running()
                .into_iter()
                .filter(|t| t.resident == resident)
                .map(Into::into)
                .collect(),
            processes,
            memory_bytes,
            cpu_ms,
            chat: self
                .chat_health
                .lock()
                .expect("lock")
                .get(resident)
                .cloned()
                .unwrap_or_default(),
            last_reset: rounds.last().unwrap_or_default().troubles_of(resident),
            waiting: self.gathering.waiting(resident),
            spent: self.desk.spent(round, resident).total.into(),
            budget_usd: r.budget.usd,
            budget_tokens: r.budget.tokens,
        })
    }

    fn cost(&self, resident: &str, conversation: &str) -> Result<hall::CostReport, Declined> {
        let town = self.town();
        let Some(r) = town.resident(resident) else {
            return Ok(hall::CostReport::default());
        };
        let round = crate::round::RoundState::new(&town.state).round()?;
        let now = self.desk.spent(round, resident);
        Ok(hall::CostReport {
            resident: resident.into(),
            round,
            spent: now.total.into(),
            conversation: now
                .conversations
                .get(conversation)
                .copied()
                .unwrap_or_default()
                .into(),
            rounds: self
                .desk
                .spent_by_round(resident)
                .into_iter()
                .filter(|(n, _)| *n != round)
                .map(|(n, s)| (n, s.into()))
                .collect(),
            budget_usd: r.budget.usd,
            budget_tokens: r.budget.tokens,
        })
    }
}
