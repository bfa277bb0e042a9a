//! Running what a message asked for: commands answered in the room, turns streamed into it.

use std::time::Duration;

use tokio::sync::mpsc;

use super::Chat;
use super::answer::Streamer;
use super::bot::{Backend, Ended, Job, NotRun, TurnAsk};
use super::confirm::Offer;
use super::line::Place;
use super::policy::{Command, DeviceCommand};
use townhall_wire::hall::{Ask, Said, TurnEvent};

/// Run what a message asked for, answering in its room.
pub async fn act<B: Backend, C: Chat>(
    backend: &B,
    chat: &C,
    name: &str,
    job: Job,
    place: Place,
    offers: &crate::confirm::Offers,
) {
    let Job {
        sender,
        reply,
        conversation,
        command,
        file,
    } = job;
    let (sender, reply, conversation) = (sender.as_str(), &reply, conversation.as_str());
    let (room, thread) = (reply.room.as_str(), reply.thread.as_deref());
    let say = |text: String| async move {
        if let Err(e) = chat.send(room, thread, &text).await {
            tracing::warn!("{e}");
        }
    };
    match command {
        Command::Help => say(super::bot::HELP.into()).await,
        Command::Status => {
            let status = backend.status_of(name).await;
            let ask = Ask::Mode {
                resident: name.into(),
                by: sender.into(),
                conversation: conversation.into(),
                change: townhall_wire::hall::ModeChange::Show,
            };
            // The conversation's mode under the resident's status, when it has one.
            let mode = answered(backend, ask, |s| match s {
                Said::Mode { mode, .. } => Ok(super::words::mode_line(&mode)),
                other => Err(Box::new(other)),
            });
            let mode = mode.await.unwrap_or_default();
            say([status, mode].join("\n").trim_end().to_string()).await
        }
        Command::Cost => say(backend.cost_of(name, conversation).await).await,
        Command::Session => say(backend.session_of(name, conversation).await).await,
        Command::Log(n) => say(backend.log_of(name, n).await).await,
        Command::Branches => say(backend.branches_of(name).await).await,
        Command::Every { on, prompt } => {
            let ask = Ask::Every {
                resident: name.into(),
                by: sender.into(),
                on,
                prompt,
                room: room.into(),
            };
            say(backend.schedules(name, ask).await).await
        }
        Command::Schedules => {
            let ask = Ask::Schedules {
                resident: name.into(),
            };
            say(backend.schedules(name, ask).await).await
        }
        Command::Unschedule(n) => {
            let ask = Ask::Unschedule {
                resident: name.into(),
                by: sender.into(),
                n,
            };
            say(backend.schedules(name, ask).await).await
        }
        Command::Network => say(backend.network_of(name, sender).await).await,
        Command::Mode(change) => {
            let show = change == townhall_wire::hall::ModeChange::Show;
            let ask = Ask::Mode {
                resident: name.into(),
                by: sender.into(),
                conversation: conversation.into(),
                change,
            };
            let said = answered(backend, ask, |s| match s {
                Said::Mode { mode, kind, models } => {
                    Ok(super::words::mode(name, &mode, &kind, &models, !show))
                }
                other => Err(Box::new(other)),
            });
            say(said.await.unwrap_or_else(|e| format!("_Not changed: {e}_"))).await
        }
        Command::Spending(days) => {
            let ask = Ask::Usage {
                resident: name.into(),
                by: sender.into(),
                days,
            };
            let said = backend.call(ask).await;
            match said {
                Ok(Said::Usage { days: spent }) => {
                    super::words::post_chart(chat, room, thread, name, days, &spent).await
                }
                Ok(other) => say(format!("_No chart: unexpected answer {other:?}_")).await,
                Err(e) => say(format!("_No chart: {e}_")).await,
            }
        }
        Command::Audit(n) => {
            let ask = Ask::History {
                resident: name.into(),
                by: sender.into(),
                n,
            };
            let said = answered(backend, ask, |s| match s {
                Said::History { lines } => Ok(super::words::history(name, &lines)),
                other => Err(Box::new(other)),
            });
            say(said.await.unwrap_or_else(|e| format!("_Not read: {e}_"))).await
        }
        Command::Approvals { clear } => {
            let ask = Ask::Approvals {
                resident: name.into(),
                by: sender.into(),
                clear,
            };
            let said = answered(backend, ask, |s| match s {
                Said::Approvals { rules } => Ok(super::words::approvals(name, &rules, clear)),
                other => Err(Box::new(other)),
            });
            say(said.await.unwrap_or_else(|e| format!("_Not done: {e}_"))).await
        }
        Command::Stop => match backend.stop(name, sender).await {
            Ok(n) => say(format!("_Stopped {n} running turn(s)._")).await,
            Err(e) => say(format!("_Could not stop: {e}_")).await,
        },
        Command::Resume => match backend.resume(name, sender).await {
            Ok(()) => say("_Resuming now what the usage limit held._".into()).await,
            Err(e) => say(format!("_Nothing was resumed: {e}_")).await,
        },
        Command::New => match backend.forget_session(name, sender, conversation).await {
            Ok(()) => say("_The next message starts a fresh session._".into()).await,
            Err(e) => say(format!("_Could not forget the session: {e}_")).await,
        },
        // First what would be lost; only `!reset yes` from the same mayor, here, in time, acts.
        Command::Reset { all } => {
            let alone = (!all).then_some(name);
            match backend.reset_report(sender, alone).await {
                Ok(report) => {
                    offers.asked(room, sender, name, Offer::Reset { all });
                    say(report).await
                }
                Err(e) => say(format!(
                    "_Could not say what a reset would lose, so none is offered:_\n```\n{e}\n```"
                ))
                .await,
            }
        }
        Command::ResetYes => {
            match offers.confirmed(room, sender, name, Offer::Reset { all: false }) {
                Some(Offer::Reset { all }) => {
                    match backend.reset(sender, (!all).then_some(name)).await {
                        Ok(report) => say(report).await,
                        Err(e) => {
                            say(format!(
                                "_The reset was refused; nothing changed:_\n```\n{e}\n```"
                            ))
                            .await
                        }
                    }
                }
                _ => {
                    let wait = super::confirm::WAIT.as_secs();
                    say(format!("_No reset is waiting for your confirmation here (an offer lasts {wait} s): send `!reset` first. Nothing changed._")).await
                }
            }
        }
        Command::Checkpoint(label) => say(backend.checkpoint(name, sender, &label).await).await,
        Command::Checkpoints => match backend.checkpoints(name).await {
            Ok(list) => say(super::words::checkpoints(name, &list)).await,
            Err(e) => say(format!("_Could not list the checkpoints: {e}_")).await,
        },
        // First what it means; only `!rollback yes` from the same mayor, here, in time, acts.
        Command::Rollback(n) => match backend.checkpoints(name).await {
            Ok(list) => match list.iter().find(|c| c.n == n) {
                Some(c) => {
                    offers.asked(room, sender, name, Offer::Rollback(n));
                    say(super::words::rollback_offer(&backend.town(), name, c)).await
                }
                None => say(format!(
                    "_{name} has no checkpoint {n}; `!checkpoints` lists them. Nothing changed._"
                ))
                .await,
            },
            Err(e) => {
                say(format!(
                    "_Could not read the checkpoints, so no rollback is offered: {e}_"
                ))
                .await
            }
        },
        Command::RollbackYes => match offers.confirmed(room, sender, name, Offer::Rollback(0)) {
            Some(Offer::Rollback(n)) => match backend.rollback(name, sender, n).await {
                Ok(done) => say(done).await,
                Err(e) => {
                    say(format!(
                        "_The rollback was refused; nothing changed:_\n```\n{e}\n```"
                    ))
                    .await
                }
            },
            _ => {
                let wait = super::confirm::WAIT.as_secs();
                say(format!("_No rollback is waiting for your confirmation here (an offer lasts {wait} s): send `!rollback N` first. Nothing changed._")).await
            }
        },
        Command::Usage(how) => say(format!("_{how}_")).await,
        // A tail's batches go into a thread under the command, so the room stays readable.
        Command::Device(c) => {
            let to = if matches!(c, DeviceCommand::Tail { .. }) {
                Some(thread.unwrap_or(reply.event.as_str()))
            } else {
                thread
            };
            let (tx, mut rx) = mpsc::channel::<String>(8);
            let post = async {
                while let Some(text) = rx.recv().await {
                    if let Err(e) = chat.send(room, to, &text).await {
                        tracing::warn!("{e}");
                    }
                }
            };
            tokio::join!(backend.device(sender, c, tx), post);
        }
        // Saved first; a caption is then a turn, told where the file is.
        Command::File { caption } => {
            let Some(file) = file else { return };
            let saved =
                super::files::receive(backend, chat, name, sender, conversation, &file).await;
            let ok = saved.is_ok();
            say(saved.unwrap_or_else(|e| format!("_Not saved: {e}_"))).await;
            if let (true, Some(prompt)) = (ok, caption) {
                let ask = TurnAsk {
                    resident: name.into(),
                    sender: sender.into(),
                    conversation: conversation.into(),
                    prompt,
                    reply: reply.clone(),
                    place,
                };
                answer(backend, chat, ask).await
            }
        }
        Command::Turn(prompt) => {
            let ask = TurnAsk {
                resident: name.into(),
                sender: sender.into(),
                conversation: conversation.into(),
                prompt,
                reply: reply.clone(),
                place,
            };
            answer(backend, chat, ask).await
        }
    }
}

/// Ask root, and make words of the answer `pick` expects (anything else is a protocol
/// error, a refusal says why).
async fn answered<B: Backend>(
    backend: &B,
    ask: Ask,
    pick: impl FnOnce(Said) -> Result<String, Box<Said>>,
) -> Result<String, townhall_wire::hall::HallError> {
    let said = backend.call(ask).await?;
    pick(said).map_err(|other| {
        townhall_wire::hall::HallError::Protocol(format!("unexpected answer {other:?}"))
    })
}

async fn answer<B: Backend, C: Chat>(backend: &B, chat: &C, mut ask: TurnAsk) {
    let post = std::mem::take(&mut ask.place.post);
    let pending = backend.pending(&ask.reply.event);
    let (reply, resident, conversation) = (
        ask.reply.clone(),
        ask.resident.clone(),
        ask.conversation.clone(),
    );
    let (room, thread) = (reply.room.as_str(), reply.thread.as_deref());
    let typing = {
        let chat = chat.clone();
        let room = room.to_string();
        tokio::spawn(async move {
            loop {
                let _ = chat.typing(&room, true).await;
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        })
    };
    let (tx, mut rx) = mpsc::channel(64);
    let turn = backend.turn(ask, tx);
    let stream = async {
        let mut s = Streamer::new(chat, room, thread).in_line(post);
        let (mut last, mut errors) = (None, Vec::new());
        while let Some(ev) = rx.recv().await {
            let r = match ev {
                TurnEvent::Text { text } => s.push(&text).await,
                TurnEvent::Final { text } => {
                    last = Some(text);
                    Ok(())
                }
                // Said under the answer, errors and notices alike.
                TurnEvent::Error { message: note } | TurnEvent::Notice { text: note } => {
                    errors.push(note);
                    Ok(())
                }
                // Seen, and kept for the next turn: a reaction, not a message per message.
                TurnEvent::Queued { .. } => {
                    chat.react(room, &reply.event, super::words::KEPT).await
                }
                _ => Ok(()),
            };
            if let Err(e) = r {
                tracing::warn!("streaming the answer: {e}");
            }
        }
        (s, last, errors)
    };
    let (ended, (mut s, last, errors)) = tokio::join!(turn, stream);
    typing.abort();
    let _ = chat.typing(room, false).await;
    if s.text().trim().is_empty()
        && let Some(t) = last
    {
        let _ = s.push(&t).await;
    }
    let (delivery, outcome) = match ended {
        Ok(Ended::Answered { delivery, outcome }) => (Some(delivery), *outcome),
        // The answer comes with the earlier message's.
        Ok(Ended::Joined) => return,
        Ok(Ended::Interrupted) => {
            if !s.text().trim().is_empty()
                && let Err(e) = s.finish(Some(super::words::INTERRUPTED)).await
            {
                tracing::warn!("closing an interrupted answer: {e}");
            }
            pending.hold(s.take_line());
            return;
        }
        Err(e) => (None, Err(NotRun(e.to_string()))),
    };
    // How it ended, its session, what it spent, the outbox files it could not send.
    let town = backend.town();
    let mut lines: Vec<String> = super::words::footer(&outcome, &errors)
        .into_iter()
        .collect();
    if let Ok(o) = &outcome {
        lines.extend(
            o.session
                .as_ref()
                .map(|id| super::words::session(&resident, &conversation, id)),
        );
        lines.extend(
            town.resident(&resident)
                .and_then(|r| super::words::spent_footer(o, &r.budget)),
        );
        lines.extend(o.files_left.iter().map(|l| format!("_{l}_")));
        lines.extend(super::words::tools_footer(o));
        lines.extend(super::words::branch_footer(o));
    }
    let footer = (!lines.is_empty()).then(|| lines.join("\n"));
    let finished = s.finish(footer.as_deref()).await;
    if let (Ok(o), Some(r)) = (&outcome, town.resident(&resident)) {
        for f in super::files::post(chat, room, thread, &o.files, r.files.max_bytes).await {
            let _ = chat.send(room, thread, &format!("_{f}_")).await;
        }
    }
    match finished {
        Err(e) => {
            tracing::warn!("finishing the answer: {e}");
            if let Some(id) = delivery {
                backend.not_posted(id);
            }
        }
        Ok(()) => {
            if let Some(id) = delivery {
                backend.delivered(id).await;
            }
        }
    }
}
