//! One resident's Matrix bot: a supervised sync loop that joins the mayors' invites, turns
//! allowed messages into commands, and answers by streaming the turn into the room.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use matrix_sdk::config::SyncSettings;
use matrix_sdk::deserialized_responses::TimelineEventKind;
use matrix_sdk::ruma::events::room::message::{MessageType, Relation};
use matrix_sdk::ruma::events::{AnySyncMessageLikeEvent, AnySyncTimelineEvent, SyncMessageLikeEvent};
use matrix_sdk::{Client, Room};
use tokio::sync::mpsc;

use super::answer::Streamer;
use super::identity::{Identity, connect};
use super::policy::{Command, Decision, Incoming, decide};
use super::{Chat, MatrixChat};
use crate::config::Town;
use crate::hall::{Refused, Reply};
use crate::turn::{Outcome, TurnEvent};

/// A chain of residents answering residents stops after this many hops.
pub const HOP_LIMIT: u32 = 4;

/// How a turn asked for ended: its answer is `delivery` until confirmed; `outcome` is Err
/// when it could not run.
pub struct Ended {
    pub delivery: u64,
    pub outcome: Result<Outcome, String>,
}

/// What the bot needs from the supervisor (through the hall, hall.rs).
pub trait Backend: Send + Sync + 'static {
    fn town(&self) -> Arc<Town>;
    /// Where the residents' Matrix stores live.
    fn store(&self) -> std::path::PathBuf;
    fn turn(&self, resident: &str, sender: &str, conversation: &str, prompt: &str, reply: Reply, events: mpsc::Sender<TurnEvent>) -> impl Future<Output = Result<Ended, String>> + Send;
    /// The answer reached its room.
    fn delivered(&self, delivery: u64) -> impl Future<Output = ()> + Send;
    fn stop(&self, resident: &str, sender: &str) -> impl Future<Output = Result<u32, String>> + Send;
    fn forget_session(&self, resident: &str, sender: &str, conversation: &str) -> impl Future<Output = Result<(), String>> + Send;
    /// Markdown for `!status`.
    fn status_of(&self, resident: &str) -> impl Future<Output = String> + Send;
    /// Markdown for `!log n`.
    fn log_of(&self, resident: &str, lines: usize) -> impl Future<Output = String> + Send;
    /// Markdown for `!branches`.
    fn branches_of(&self, resident: &str) -> impl Future<Output = String> + Send;
    /// End the round; markdown describing the result.
    fn reset(&self, by: &str) -> impl Future<Output = Result<String, String>> + Send;
    fn audit(&self, resident: &str, what: Refused, from: &str, room: &str, why: &str);
    fn chat_health(&self, resident: &str, health: String);
    /// The resident's bot is connected: notices and kept answers can go out through it.
    fn connected(self: Arc<Self>, resident: &str, chat: MatrixChat);
}

const HELP: &str = "Talk to me in plain words (in a shared room, start with my name). Commands:\n\
`!status` what I am doing · `!stop` end the running turn · `!new` start a fresh session · \
`!log [n]` the last lines of my last turn · `!branches` my branches on the town remote · \
`!reset` end the round (mayors only) · `!help`";

/// Rooms where residents answer residents, and how long the current chain is.
fn hops() -> &'static Mutex<HashMap<String, u32>> {
    static HOPS: std::sync::OnceLock<Mutex<HashMap<String, u32>>> = std::sync::OnceLock::new();
    HOPS.get_or_init(Default::default)
}

/// Run the resident's bot forever: reconnect and resync with backoff on any failure.
pub async fn run<B: Backend>(backend: Arc<B>, name: String) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let town = backend.town();
        let Some(r) = town.resident(&name).cloned() else { return };
        match connect(&town, &r, &backend.store()).await {
            Ok(id) => {
                backoff = Duration::from_secs(1);
                serve(&backend, &name, id).await;
            }
            Err(e) => {
                tracing::warn!(resident = %name, "{e}");
                backend.chat_health(&name, format!("cannot connect: {e}"));
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

async fn serve<B: Backend>(backend: &Arc<B>, name: &str, id: Identity) {
    let client = id.client;
    backend.clone().connected(name, MatrixChat { client: client.clone() });
    let mut skip_history = id.fresh;
    let mut seen: VecDeque<String> = VecDeque::new();
    let mut backoff = Duration::from_secs(1);
    let settings = SyncSettings::default().timeout(Duration::from_secs(30));
    loop {
        match client.sync_once(settings.clone()).await {
            Ok(resp) => {
                backoff = Duration::from_secs(1);
                backend.chat_health(name, "syncing".into());
                for room_id in resp.rooms.invited.keys() {
                    if let Some(room) = client.get_room(room_id) {
                        tokio::spawn(invited(backend.clone(), name.to_string(), room));
                    }
                }
                for (room_id, update) in resp.rooms.joined {
                    let Some(room) = client.get_room(&room_id) else { continue };
                    for ev in update.timeline.events {
                        if skip_history {
                            continue;
                        }
                        handle(backend, name, &client, &room, ev.kind, &mut seen).await;
                    }
                }
                skip_history = false;
            }
            Err(e) => {
                tracing::warn!(resident = %name, "sync failed: {e}; retrying in {backoff:?}");
                backend.chat_health(name, format!("sync failing: {e}"));
                // The token is gone (or the resident was removed): reconnect from the top.
                let town = backend.town();
                let gone = town.resident(name).is_none_or(|r| !crate::chat::identity::store_dir(&backend.store(), r).join("session.json").exists());
                if gone {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
        }
    }
}

async fn invited<B: Backend>(backend: Arc<B>, name: String, room: Room) {
    let town = backend.town();
    let Some(r) = town.resident(&name) else { return };
    let inviter = match room.invite_details().await {
        Ok(d) => d.inviter_id.to_string(),
        Err(e) => {
            tracing::warn!(resident = %name, "reading an invite: {e}");
            return;
        }
    };
    let allowed = town.matrix.mayors.contains(&inviter) || r.matrix.allow.contains(&inviter);
    if !allowed {
        backend.audit(&name, Refused::InviteDeclined, &inviter, room.room_id().as_str(), "not a mayor and not in the resident's allow");
        let _ = room.leave().await;
        return;
    }
    let mut wait = Duration::from_secs(1);
    for _ in 0..8 {
        match room.join().await {
            Ok(()) => {
                tracing::info!(resident = %name, room = %room.room_id(), "joined at {inviter}'s invitation");
                return;
            }
            Err(e) => tracing::warn!(resident = %name, "joining {}: {e}; retrying", room.room_id()),
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

async fn handle<B: Backend>(backend: &Arc<B>, name: &str, client: &Client, room: &Room, kind: TimelineEventKind, seen: &mut VecDeque<String>) {
    let town = backend.town();
    let Some(r) = town.resident(name) else { return };
    let me = r.matrix.user.clone();
    let undecryptable = matches!(kind, TimelineEventKind::UnableToDecrypt { .. });
    let Ok(event) = kind.raw().deserialize() else { return };
    // Never act on what was said before this bot joined (history shown on join).
    if let Some(me_id) = client.user_id()
        && let Ok(Some(member)) = room.get_member_no_sync(me_id).await
        && member.event().timestamp().is_some_and(|joined| event.origin_server_ts().0 < joined)
    {
        return;
    }
    let sender = event.sender().to_string();
    let event_id = event.event_id().to_string();
    if seen.contains(&event_id) {
        return;
    }
    seen.push_back(event_id.clone());
    if seen.len() > 1000 {
        seen.pop_front();
    }
    let allowed = town.matrix.mayors.contains(&sender) || r.matrix.allow.contains(&sender);
    let chat = MatrixChat { client: client.clone() };
    let room_id = room.room_id().to_string();
    if undecryptable {
        if allowed && sender != me {
            let _ = chat.send(&room_id, None, "_I could not decrypt your last message. Please send it again._").await;
        }
        return;
    }
    let AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(SyncMessageLikeEvent::Original(m))) = event else {
        return;
    };
    let thread = match &m.content.relates_to {
        Some(Relation::Thread(t)) => Some(t.event_id.to_string()),
        _ => None,
    };
    let from_resident = town.residents.iter().any(|x| x.matrix.user == sender);
    // Counted from the member list, not the sync summary, which can lag behind joins.
    let members = room.members(matrix_sdk::RoomMemberships::JOIN | matrix_sdk::RoomMemberships::INVITE).await;
    let direct = members.map(|m| m.len() <= 2).unwrap_or(false);
    let incoming = Incoming {
        sender: &sender,
        me: &me,
        name,
        body: m.content.body(),
        is_notice: matches!(m.content.msgtype, MessageType::Notice(_)),
        is_edit: matches!(m.content.relates_to, Some(Relation::Replacement(_))),
        direct,
        mentioned: m.content.mentions.as_ref().is_some_and(|mm| mm.user_ids.iter().any(|u| u.as_str() == me)),
        allowed,
        is_mayor: town.matrix.mayors.contains(&sender),
        from_resident,
    };
    let decision = decide(&incoming);
    // Chains of residents answering residents end at the hop limit; only an allowed human
    // starts a new chain (a stranger's message must not let residents go on forever).
    if !from_resident && allowed && sender != me {
        hops().lock().expect("lock").remove(&room_id);
    }
    if from_resident && matches!(decision, Decision::Act(_)) {
        let n = {
            let mut h = hops().lock().expect("lock");
            let n = h.entry(room_id.clone()).or_default();
            *n += 1;
            *n
        };
        if n > HOP_LIMIT {
            if n == HOP_LIMIT + 1 {
                let _ = chat.send(&room_id, thread.as_deref(), &format!("_Stopping here: {HOP_LIMIT} resident-to-resident answers in a row. A human has to speak next._")).await;
            }
            return;
        }
    }
    let mut conversation = match &thread {
        Some(t) => format!("{room_id}/{t}"),
        None => room_id.clone(),
    };
    // A resident's request never joins the mayor's conversation or its CLI session.
    if from_resident {
        conversation = format!("{conversation}/from:{sender}");
    }
    let backend = backend.clone();
    let name = name.to_string();
    match decision {
        Decision::Pass => {}
        Decision::Refused(why) => {
            tracing::info!(resident = %name, "ignored: {why}");
            backend.audit(&name, Refused::MessageIgnored, &sender, &room_id, &format!("{event_id}: {why}"));
        }
        Decision::MayorsOnly(c) => {
            let _ = chat.send(&room_id, thread.as_deref(), &format!("_Only a mayor may use {c:?}._")).await;
        }
        Decision::Act(command) => {
            let reply = Reply { room: room_id, thread, event: event_id };
            tokio::spawn(async move { act(&*backend, &chat, &name, &sender, &reply, &conversation, command).await });
        }
    }
}

async fn act<B: Backend>(backend: &B, chat: &MatrixChat, name: &str, sender: &str, reply: &Reply, conversation: &str, command: Command) {
    let (room, thread) = (reply.room.as_str(), reply.thread.as_deref());
    let say = |text: String| async move {
        if let Err(e) = chat.send(room, thread, &text).await {
            tracing::warn!("{e}");
        }
    };
    match command {
        Command::Help => say(HELP.into()).await,
        Command::Status => say(backend.status_of(name).await).await,
        Command::Log(n) => say(backend.log_of(name, n).await).await,
        Command::Branches => say(backend.branches_of(name).await).await,
        Command::Stop => match backend.stop(name, sender).await {
            Ok(n) => say(format!("_Stopped {n} running turn(s)._")).await,
            Err(e) => say(format!("_Could not stop: {e}_")).await,
        },
        Command::New => match backend.forget_session(name, sender, conversation).await {
            Ok(()) => say("_The next message starts a fresh session._".into()).await,
            Err(e) => say(format!("_Could not forget the session: {e}_")).await,
        },
        Command::Reset => {
            say(super::words::what_a_reset_loses(&backend.town())).await;
            match backend.reset(sender).await {
                Ok(report) => say(report).await,
                Err(e) => say(format!("_The reset was refused; nothing changed:_\n```\n{e}\n```")).await,
            }
        }
        Command::Turn(prompt) => answer(backend, chat, name, sender, reply, conversation, &prompt).await,
    }
}

async fn answer<B: Backend>(backend: &B, chat: &MatrixChat, name: &str, sender: &str, reply: &Reply, conversation: &str, prompt: &str) {
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
    let turn = backend.turn(name, sender, conversation, prompt, reply.clone(), tx);
    let stream = async {
        let mut s = Streamer::new(chat, room, thread);
        let (mut last, mut errors) = (None, Vec::new());
        while let Some(ev) = rx.recv().await {
            let r = match ev {
                TurnEvent::Text { text } => s.push(&text).await,
                TurnEvent::Final { text } => {
                    last = Some(text);
                    Ok(())
                }
                TurnEvent::Error { message } => {
                    errors.push(message);
                    Ok(())
                }
                TurnEvent::Queued { ahead } => chat.send(room, thread, &format!("_Queued: {ahead} turn(s) ahead of this one._")).await.map(|_| ()),
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
        Ok(e) => (Some(e.delivery), e.outcome),
        Err(e) => (None, Err(e)),
    };
    let footer = super::words::footer(&outcome, &errors);
    match s.finish(footer.as_deref()).await {
        Err(e) => tracing::warn!("finishing the answer: {e}"),
        Ok(()) => {
            if let Some(id) = delivery {
                backend.delivered(id).await;
            }
        }
    }
}
