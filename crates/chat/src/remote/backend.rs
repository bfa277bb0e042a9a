//! What a bot asks of root, as hall requests: a turn and its events, stop, status, cost,
//! sessions, branches, files, devices, resets, approvals' reactions and the audit.

use super::*;

impl Backend for Remote {
    fn town(&self) -> Arc<Town> {
        self.town.read().expect("lock").clone()
    }

    fn store(&self) -> PathBuf {
        self.store.clone()
    }

    async fn turn(&self, t: TurnAsk, events: mpsc::Sender<TurnEvent>) -> Result<Ended, HallError> {
        let TurnAsk {
            resident,
            sender,
            conversation,
            prompt,
            reply,
            mut place,
        } = t;
        let ask = Ask::Turn {
            resident,
            sender,
            conversation,
            prompt,
            reply,
        };
        place.wait().await;
        // Accepted or Gathered (the message is on the daemon's disk), or a refusal.
        let (mut said, first) = self.counter.first_through_restarts(ask).await?;
        place.accepted();
        // Once accepted, the message is the daemon's (on disk): its answer comes as a
        // delivery even if this connection ends.
        let mut next = Some(first);
        loop {
            let s = match next.take() {
                Some(s) => s,
                None => match said.next().await {
                    Ok(Some(s)) => s,
                    Ok(None) | Err(_) => return Ok(Ended::Interrupted),
                },
            };
            match s {
                Said::Accepted => {}
                Said::Turn(ev) => {
                    let _ = events.send(ev).await;
                }
                Said::TurnDone {
                    delivery,
                    outcome,
                    error,
                } => {
                    let outcome = outcome.ok_or_else(|| {
                        NotRun(error.unwrap_or_else(|| "the turn could not run".into()))
                    });
                    self.answering.lock().expect("lock").insert(delivery);
                    return Ok(Ended::Answered {
                        delivery,
                        outcome: Box::new(outcome),
                    });
                }
                Said::Gathered { waiting } => {
                    let _ = events
                        .send(TurnEvent::Queued {
                            ahead: waiting as u32,
                        })
                        .await;
                }
                Said::Joined { .. } => return Ok(Ended::Joined),
                other => tracing::debug!("unexpected during a turn: {other:?}"),
            }
        }
    }

    fn not_posted(&self, delivery: u64) {
        self.answering.lock().expect("lock").remove(&delivery);
    }

    fn pending(&self, event: &str) -> Pending {
        self.held.pending(event)
    }

    async fn delivered(&self, delivery: u64) {
        self.answering.lock().expect("lock").remove(&delivery);
        {
            let mut posted = self.posted.lock().expect("lock");
            // Long confirmed by then: only a restart's few are offered again.
            if posted.len() >= 10_000 {
                posted.clear();
            }
            posted.insert(delivery);
        }
        // A daemon restarting under the confirmation is asked again once it is back.
        let ask = Ask::Delivered { id: delivery };
        if let Err(e) = self.counter.call_through_restarts(ask).await {
            tracing::warn!("confirming answer {delivery}: {e}");
        }
    }

    async fn stop(&self, resident: &str, sender: &str) -> Result<u32, HallError> {
        let ask = Ask::Stop {
            resident: resident.into(),
            sender: sender.into(),
        };
        self.counter
            .ask_for(ask, |s| match s {
                Said::Stopped { turns } => Ok(turns),
                other => Err(Box::new(other)),
            })
            .await
    }

    async fn resume(&self, resident: &str, sender: &str) -> Result<(), HallError> {
        let ask = Ask::Resume {
            resident: resident.into(),
            sender: sender.into(),
        };
        self.counter
            .ask_for(ask, |s| match s {
                Said::Done => Ok(()),
                other => Err(Box::new(other)),
            })
            .await
    }

    async fn forget_session(
        &self,
        resident: &str,
        sender: &str,
        conversation: &str,
    ) -> Result<(), HallError> {
        self.done(Ask::Forget {
            resident: resident.into(),
            sender: sender.into(),
            conversation: conversation.into(),
        })
        .await
    }

    async fn status_of(&self, resident: &str) -> String {
        self.said(
            Ask::Status {
                resident: resident.into(),
            },
            |s| match s {
                Said::Status(report) => Ok(words::status(&report)),
                other => Err(Box::new(other)),
            },
        )
        .await
    }

    async fn cost_of(&self, resident: &str, conversation: &str) -> String {
        self.said(
            Ask::Cost {
                resident: resident.into(),
                conversation: conversation.into(),
            },
            |s| match s {
                Said::Cost(report) => Ok(words::cost(&report)),
                other => Err(Box::new(other)),
            },
        )
        .await
    }

    async fn session_of(&self, resident: &str, conversation: &str) -> String {
        self.said(
            Ask::Session {
                resident: resident.into(),
                conversation: conversation.into(),
            },
            |s| match s {
                Said::Session { id: Some(id) } => Ok(words::session(resident, conversation, &id)),
                Said::Session { id: None } => Ok(
                    "_This conversation has no CLI session yet: the next message starts one._"
                        .into(),
                ),
                other => Err(Box::new(other)),
            },
        )
        .await
    }

    async fn log_of(&self, resident: &str, lines: usize) -> String {
        self.said(
            Ask::Log {
                resident: resident.into(),
            },
            |s| match s {
                Said::LastTurn { outcome } => Ok(words::last_turn(outcome.as_ref(), lines)),
                other => Err(Box::new(other)),
            },
        )
        .await
    }

    async fn branches_of(&self, resident: &str) -> String {
        self.said(
            Ask::Branches {
                resident: resident.into(),
            },
            |s| match s {
                Said::Branches { repos, worktrees } => {
                    Ok(words::branches(resident, &repos, &worktrees))
                }
                other => Err(Box::new(other)),
            },
        )
        .await
    }

    async fn network_of(&self, resident: &str, sender: &str) -> String {
        self.said(
            Ask::Network {
                resident: resident.into(),
                sender: sender.into(),
            },
            |s| match s {
                Said::Network { residents } => Ok(words::network(&residents)),
                other => Err(Box::new(other)),
            },
        )
        .await
    }

    async fn file(
        &self,
        resident: &str,
        sender: &str,
        conversation: &str,
        file: &crate::FileRef,
        bytes: Vec<u8>,
    ) -> Result<String, crate::files::NotSaved> {
        crate::files::hand_over(
            &self.counter,
            &self.store,
            [resident, sender, conversation],
            file,
            &bytes,
        )
        .await
    }

    fn reacted(&self, room: &str, target: &str, key: &str, sender: &str) {
        use crate::approvals::Verdict;
        if let (Some((id, resident)), Some(v)) =
            (self.asked.of(room, target), crate::approvals::decision(key))
        {
            // Root decides whether `sender` approves this resident's calls.
            tracing::info!(%sender, id, ?v, "a reaction on an approval");
            self.tell_daemon(Ask::Decide {
                id,
                resident,
                by: sender.into(),
                allow: v != Verdict::Deny,
                round: v == Verdict::Round,
            });
        }
    }

    fn answered(
        &self,
        room: &str,
        target: &str,
        answer: crate::bot::Answered,
        sender: &str,
    ) -> bool {
        let Some(q) = self.questions.of(room, target) else {
            return false;
        };
        let words = match answer {
            crate::bot::Answered::Reaction(key) => {
                match crate::questions::picked(&q.choices, &key) {
                    Some(c) => c.to_string(),
                    // Another reaction on the question answers nothing.
                    None => return true,
                }
            }
            crate::bot::Answered::Reply(body) => crate::questions::reply_words(&body),
        };
        if words.is_empty() {
            return true;
        }
        tracing::info!(%sender, id = q.id, "answered a resident's question");
        self.tell_daemon(Ask::Answer {
            id: q.id,
            resident: q.resident,
            by: sender.into(),
            answer: words,
        });
        true
    }

    async fn device(&self, by: &str, c: crate::policy::DeviceCommand, said: mpsc::Sender<String>) {
        crate::devices::ask(&self.counter, by, c, said).await
    }

    async fn reset_report(&self, by: &str, resident: Option<&str>) -> Result<String, HallError> {
        let resident = resident.map(String::from);
        let ask = Ask::ResetReport {
            by: by.into(),
            resident: resident.clone(),
        };
        let town = self.town();
        self.counter
            .ask_for(ask, |s| match s {
                Said::Losses { residents } => Ok(words::what_a_reset_loses(
                    &town,
                    resident.as_deref(),
                    &residents,
                )),
                other => Err(Box::new(other)),
            })
            .await
    }

    async fn reset(&self, by: &str, resident: Option<&str>) -> Result<String, HallError> {
        let ask = Ask::Reset {
            by: by.into(),
            resident: resident.map(String::from),
        };
        self.counter
            .ask_for(ask, |s| match s {
                Said::ResetDone(summary) => Ok(words::reset_done(&summary)),
                other => Err(Box::new(other)),
            })
            .await
    }

    async fn checkpoint(&self, resident: &str, by: &str, label: &str) -> String {
        let ask = Ask::Checkpoint {
            resident: resident.into(),
            by: by.into(),
            label: label.into(),
        };
        let said = self
            .counter
            .ask_for(ask, |s| match s {
                Said::Checkpoints { checkpoints } => Ok(checkpoints),
                other => Err(Box::new(other)),
            })
            .await;
        match said {
            Ok(list) => words::checkpoint_taken(resident, &list),
            Err(e) => format!("_No checkpoint was taken:_ {e}"),
        }
    }

    async fn call(&self, ask: Ask) -> Result<Said, HallError> {
        self.counter.call(ask).await
    }

    async fn schedules(&self, resident: &str, ask: Ask) -> String {
        let said = self
            .counter
            .ask_for(ask, |s| match s {
                Said::Schedules { schedules } => Ok(schedules),
                other => Err(Box::new(other)),
            })
            .await;
        match said {
            Ok(list) => words::schedules(resident, &list),
            Err(e) => format!("_The schedules were not changed:_ {e}"),
        }
    }

    async fn checkpoints(
        &self,
        resident: &str,
    ) -> Result<Vec<townhall_wire::hall::CheckpointInfo>, HallError> {
        let ask = Ask::Checkpoints {
            resident: resident.into(),
        };
        self.counter
            .ask_for(ask, |s| match s {
                Said::Checkpoints { checkpoints } => Ok(checkpoints),
                other => Err(Box::new(other)),
            })
            .await
    }

    async fn rollback(&self, resident: &str, by: &str, n: u64) -> Result<String, HallError> {
        let ask = Ask::Rollback {
            resident: resident.into(),
            by: by.into(),
            n,
        };
        self.counter
            .ask_for(ask, |s| match s {
                Said::ResetDone(summary) => Ok(words::rolled_back(resident, n, &summary)),
                other => Err(Box::new(other)),
            })
            .await
    }

    fn audit(&self, resident: &str, what: Refused, from: &str, room: &str, why: &str) {
        self.tell_daemon(Ask::Audit {
            resident: resident.into(),
            what,
            from: from.into(),
            room: room.into(),
            why: why.into(),
        });
    }

    fn chat_health(&self, resident: &str, health: String) {
        let changed = self
            .health
            .lock()
            .expect("lock")
            .insert(resident.to_string(), health.clone())
            .as_ref()
            != Some(&health);
        if changed {
            self.tell_daemon(Ask::Health {
                resident: resident.into(),
                health,
            });
        }
    }

    fn connected(self: Arc<Self>, resident: &str, chat: MatrixChat) {
        self.presences.connected(resident, chat.clone());
        self.chats
            .lock()
            .expect("lock")
            .insert(resident.to_string(), chat);
        let waiting = self
            .waiting
            .lock()
            .expect("lock")
            .remove(resident)
            .unwrap_or_default();
        for w in waiting {
            self.hand(resident, w);
        }
    }
}
