//! The supervised sync loop of one resident's bot: it connects and reconnects with backoff,
//! joins the mayors' invites and leaves the others, and runs the jobs `Bot::heard` finds.

use std::sync::Arc;
use std::time::Duration;

use super::{Backend, Bot};
use crate::identity::{Identity, connect};
use crate::line::{Line, Place};
use crate::policy::Command;
use crate::shared::Shared;
use crate::{Chat, Heard, MatrixChat};
use townhall_wire::backoff::Backoff;
use townhall_wire::hall::Refused;

/// A bot that cannot connect or sync tries again after 1 s, doubling up to a minute.
fn retries() -> Backoff {
    Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
}

/// Run the resident's bot forever: reconnect and resync with backoff on any failure.
pub async fn run<B: Backend>(backend: Arc<B>, name: String, shared: Arc<Shared>) {
    let mut backoff = retries();
    loop {
        let town = backend.town();
        let Some(r) = town.resident(&name).cloned() else {
            return;
        };
        match connect(&town, &r, &backend.store()).await {
            Ok(id) => {
                backoff.succeeded();
                serve(&backend, &name, id, &shared).await;
            }
            Err(e) => {
                tracing::warn!(resident = %name, "{e}");
                backend.chat_health(&name, format!("cannot connect: {e}"));
            }
        }
        let pause = backoff.failed().expect("a backoff without a deadline");
        tokio::time::sleep(pause).await;
    }
}

async fn serve<B: Backend>(backend: &Arc<B>, name: &str, id: Identity, shared: &Arc<Shared>) {
    let chat = MatrixChat { client: id.client };
    backend.clone().connected(name, chat.clone());
    let mut bot = Bot::new(backend.clone(), chat.clone(), name, shared.hops.clone());
    // Logged in just now: the first sync holds history, not messages to answer.
    let mut skip_history = id.fresh;
    let mut backoff = retries();
    // The first sync returns at once, so the bot is known to be online without waiting out
    // a long poll; later ones wait up to 30 s for events.
    let mut wait = Duration::ZERO;
    let mut line = Line::default();
    loop {
        match chat.sync(wait).await {
            Ok(heard) => {
                wait = Duration::from_secs(30);
                backoff.succeeded();
                backend.chat_health(name, "syncing".into());
                for h in heard {
                    if let Heard::Invite { room, inviter } = &h {
                        let (b, c, n, room, inviter) = (
                            backend.clone(),
                            chat.clone(),
                            name.to_string(),
                            room.clone(),
                            inviter.clone(),
                        );
                        tokio::spawn(async move { invited(&*b, &c, &n, &room, &inviter).await });
                    } else if !skip_history && let Some(job) = bot.heard(h).await {
                        // Taken here, in the order the messages came.
                        let place = if matches!(
                            job.command,
                            Command::Turn(_) | Command::File { caption: Some(_) }
                        ) {
                            line.place(&job.conversation)
                        } else {
                            Place::default()
                        };
                        let (b, c, n) = (backend.clone(), chat.clone(), name.to_string());
                        let s = shared.clone();
                        tokio::spawn(async move {
                            crate::act::act(&*b, &c, &n, job, place, &s.offers).await
                        });
                    }
                }
                skip_history = false;
            }
            Err(e) => {
                let pause = backoff.failed().expect("a backoff without a deadline");
                tracing::warn!(resident = %name, "sync failed: {e}; retrying in {pause:?}");
                backend.chat_health(name, format!("sync failing: {e}"));
                // The token is gone (or the resident was removed): reconnect from the top.
                let town = backend.town();
                let gone = town.resident(name).is_none_or(|r| {
                    !crate::identity::store_dir(&backend.store(), r)
                        .join("session.json")
                        .exists()
                });
                if gone {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Join a mayor's (or an allowed user's) invitation, retrying; leave anyone else's.
pub async fn invited<B: Backend, C: Chat>(
    backend: &B,
    chat: &C,
    name: &str,
    room: &str,
    inviter: &str,
) {
    let town = backend.town();
    let Some(r) = town.resident(name) else { return };
    let allowed = town.matrix.mayors.iter().any(|m| m == inviter)
        || r.matrix.allow.iter().any(|a| a == inviter);
    if !allowed {
        backend.audit(
            name,
            Refused::InviteDeclined,
            inviter,
            room,
            "not a mayor and not in the resident's allow",
        );
        if let Err(e) = chat.leave(room).await {
            tracing::warn!(resident = %name, "{e}");
        }
        return;
    }
    let mut backoff = retries();
    while backoff.failures() < 8 {
        match chat.join(room).await {
            Ok(()) => {
                tracing::info!(resident = %name, %room, "joined at {inviter}'s invitation");
                if let Err(e) = crate::roles::reflect(chat, room, town.approvers(r)).await {
                    tracing::warn!(resident = %name, "{e}");
                }
                return;
            }
            Err(e) => tracing::warn!(resident = %name, "{e}; retrying"),
        }
        let pause = backoff.failed().expect("a backoff without a deadline");
        tokio::time::sleep(pause).await;
    }
}
