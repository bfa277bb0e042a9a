//! One resident's Matrix bot: a supervised sync loop that joins the mayors' invites and
//! turns allowed messages into jobs (act.rs runs them). Everything Matrix goes through the
//! `Chat` seam, so what the bot decides is tested with FakeChat (chat/tests.rs).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::identity::{Identity, connect};
use super::line::{Line, Place};
use super::policy::{Command, Decision, DeviceCommand, Incoming, decide};
use super::{Chat, Heard, MatrixChat, Message};
use townhall_config::Town;
use townhall_wire::hall::{HallError, Refused, Reply};
use townhall_wire::hall::{Outcome, TurnEvent};

/// A chain of residents answering residents stops after this many hops.
pub const HOP_LIMIT: u32 = 4;

/// How a turn asked for ended.
pub enum Ended {
    /// Its answer is `delivery` until confirmed; `outcome` is Err when it could not run.
    Answered {
        delivery: u64,
        outcome: Box<Result<Outcome, String>>,
    },
    /// The message waited and was answered together with an earlier one.
    Joined,
    /// The daemon went away after it took the message: the answer comes as a delivery.
    Interrupted,
}

/// What the bot needs from the supervisor (through the hall, hall.rs).
pub trait Backend: Send + Sync + 'static {
    fn town(&self) -> Arc<Town>;
    /// Where the residents' Matrix stores live.
    fn store(&self) -> std::path::PathBuf;
    /// Asks once the message's place says the conversation's earlier one was accepted, and
    /// lets the next one go once this one is.
    fn turn(
        &self,
        ask: TurnAsk,
        events: mpsc::Sender<TurnEvent>,
    ) -> impl Future<Output = Result<Ended, HallError>> + Send;
    /// The answer reached its room.
    fn delivered(&self, delivery: u64) -> impl Future<Output = ()> + Send;
    fn stop(
        &self,
        resident: &str,
        sender: &str,
    ) -> impl Future<Output = Result<u32, HallError>> + Send;
    fn forget_session(
        &self,
        resident: &str,
        sender: &str,
        conversation: &str,
    ) -> impl Future<Output = Result<(), HallError>> + Send;
    /// Markdown for `!status`.
    fn status_of(&self, resident: &str) -> impl Future<Output = String> + Send;
    /// Markdown for `!cost`, asked in `conversation`.
    fn cost_of(&self, resident: &str, conversation: &str) -> impl Future<Output = String> + Send;
    /// Markdown for `!session`, asked in `conversation`.
    fn session_of(&self, resident: &str, conversation: &str)
    -> impl Future<Output = String> + Send;
    /// Markdown for `!log n`.
    fn log_of(&self, resident: &str, lines: usize) -> impl Future<Output = String> + Send;
    /// Markdown for `!branches`.
    fn branches_of(&self, resident: &str) -> impl Future<Output = String> + Send;
    /// Markdown saying what ending the round would lose.
    fn reset_report(&self, by: &str) -> impl Future<Output = Result<String, HallError>> + Send;
    /// End the round; markdown describing the result.
    fn reset(&self, by: &str) -> impl Future<Output = Result<String, HallError>> + Send;
    /// Have root save a file `sender` sent into the resident's inbox; where it went.
    fn file(
        &self,
        resident: &str,
        sender: &str,
        conversation: &str,
        file: &super::FileRef,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<String, super::files::NotSaved>> + Send;
    /// A device command (`!devices`, `!lease`, `!tail`…) asked by `by`: each markdown message
    /// it has to say goes to `said`, in order (a tail's go on until it ends).
    fn device(
        &self,
        by: &str,
        command: DeviceCommand,
        said: mpsc::Sender<String>,
    ) -> impl Future<Output = ()> + Send;
    /// A mayor reacted to `target` in `room` (an approval's ✅ or ❌, or nothing of ours).
    fn reacted(&self, room: &str, target: &str, key: &str, sender: &str);
    fn audit(&self, resident: &str, what: Refused, from: &str, room: &str, why: &str);
    fn chat_health(&self, resident: &str, health: String);
    /// The resident's bot is connected: notices and kept answers can go out through it.
    fn connected(self: Arc<Self>, resident: &str, chat: MatrixChat);
}

pub(super) const HELP: &str = "Talk to me in plain words (in a shared room, start with my name). \
Send me a file and it lands in my workspace's inbox/; what I leave in outbox/ comes back here. Commands:\n\
`!status` what I am doing · `!cost` what my turns spent · `!session` this conversation's CLI session, to pick up at a terminal · `!stop` end the running turn · `!new` start a fresh session · \
`!log [n]` the last lines of my last turn · `!branches` my branches on the town remote · \
`!devices` the devices the town's rules match and who holds them · \
`!reset` say what ending the round would lose, then `!reset yes` to end it · `!lease DEVICE RESIDENT 2h` lend a device, `!release DEVICE` end it · \
`!tail DEVICE [BAUD]` follow its serial console in a thread, `!untail DEVICE` stop (these five for mayors) · `!help`";

/// Rooms where residents answer residents, and how long the current chain is: shared by
/// every bot of the process, since the chain passes from one resident to the other.
pub type Hops = Arc<Mutex<HashMap<String, u32>>>;

pub fn hops() -> Hops {
    static HOPS: std::sync::OnceLock<Hops> = std::sync::OnceLock::new();
    HOPS.get_or_init(Default::default).clone()
}

/// A message that asks for a turn, and its place in its conversation's line.
pub struct TurnAsk {
    pub resident: String,
    pub sender: String,
    pub conversation: String,
    pub prompt: String,
    pub reply: Reply,
    pub place: Place,
}

/// What a message asks for, checked and ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub sender: String,
    pub reply: Reply,
    pub conversation: String,
    pub command: Command,
    /// The message's file, for `Command::File`.
    pub file: Option<super::FileRef>,
}

/// Run the resident's bot forever: reconnect and resync with backoff on any failure.
pub async fn run<B: Backend>(backend: Arc<B>, name: String) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let town = backend.town();
        let Some(r) = town.resident(&name).cloned() else {
            return;
        };
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
    let chat = MatrixChat { client: id.client };
    backend.clone().connected(name, chat.clone());
    let mut bot = Bot::new(backend.clone(), chat.clone(), name, hops());
    // Logged in just now: the first sync holds history, not messages to answer.
    let mut skip_history = id.fresh;
    let mut backoff = Duration::from_secs(1);
    // The first sync returns at once, so the bot is known to be online without waiting out
    // a long poll; later ones wait up to 30 s for events.
    let mut wait = Duration::ZERO;
    let mut line = Line::default();
    loop {
        match chat.sync(wait).await {
            Ok(heard) => {
                wait = Duration::from_secs(30);
                backoff = Duration::from_secs(1);
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
                        tokio::spawn(async move { super::act::act(&*b, &c, &n, job, place).await });
                    }
                }
                skip_history = false;
            }
            Err(e) => {
                tracing::warn!(resident = %name, "sync failed: {e}; retrying in {backoff:?}");
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
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
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
    let mut wait = Duration::from_secs(1);
    for _ in 0..8 {
        match chat.join(room).await {
            Ok(()) => {
                tracing::info!(resident = %name, %room, "joined at {inviter}'s invitation");
                return;
            }
            Err(e) => tracing::warn!(resident = %name, "{e}; retrying"),
        }
        tokio::time::sleep(wait).await;
        wait *= 2;
    }
}

pub struct Bot<B, C> {
    backend: Arc<B>,
    chat: C,
    name: String,
    /// Event ids already handled (a resync may bring one again).
    seen: VecDeque<String>,
    hops: Hops,
}

impl<B: Backend, C: Chat> Bot<B, C> {
    pub fn new(backend: Arc<B>, chat: C, name: &str, hops: Hops) -> Self {
        Self {
            backend,
            chat,
            name: name.into(),
            seen: VecDeque::new(),
            hops,
        }
    }

    fn first_time(&mut self, event: &str) -> bool {
        if self.seen.iter().any(|e| e == event) {
            return false;
        }
        self.seen.push_back(event.to_string());
        if self.seen.len() > 1000 {
            self.seen.pop_front();
        }
        true
    }

    /// What a heard event asks for, if anything. Says itself what needs saying without a
    /// job: the hop limit, "mayors only", a message it could not decrypt.
    pub async fn heard(&mut self, h: Heard) -> Option<Job> {
        let town = self.backend.town();
        let r = town.resident(&self.name)?.clone();
        let (room, event, sender, ts) = match &h {
            Heard::Invite { .. } => return None,
            Heard::Message(m) => (m.room.clone(), m.event.clone(), m.sender.clone(), m.ts),
            Heard::Undecryptable {
                room,
                event,
                sender,
                ts,
            }
            | Heard::Reaction {
                room,
                event,
                sender,
                ts,
                ..
            } => (room.clone(), event.clone(), sender.clone(), *ts),
        };
        // Never act on what was said before this bot joined (history shown on join).
        if self
            .chat
            .joined_at(&room)
            .await
            .is_some_and(|joined| ts < joined)
            || !self.first_time(&event)
        {
            return None;
        }
        let allowed = town.matrix.mayors.contains(&sender) || r.matrix.allow.contains(&sender);
        if let Heard::Reaction { target, key, .. } = &h {
            // Only a mayor's counts; root checks that again.
            if town.matrix.mayors.contains(&sender) {
                self.backend.reacted(&room, target, key, &sender);
            } else {
                tracing::info!(resident = %self.name, %sender, "ignored a reaction from someone who is not a mayor");
            }
            return None;
        }
        let Heard::Message(m) = h else {
            if allowed && sender != r.matrix.user {
                self.say(
                    &room,
                    None,
                    "_I could not decrypt your last message. Please send it again._",
                )
                .await;
            }
            return None;
        };
        self.message(&town, &r, m, allowed).await
    }

    async fn say(&self, room: &str, thread: Option<&str>, text: &str) {
        if let Err(e) = self.chat.send(room, thread, text).await {
            tracing::warn!(resident = %self.name, "{e}");
        }
    }

    async fn message(
        &mut self,
        town: &Town,
        r: &townhall_config::Resident,
        m: Message,
        allowed: bool,
    ) -> Option<Job> {
        let me = r.matrix.user.as_str();
        let from_resident = town.residents.iter().any(|x| x.matrix.user == m.sender);
        let direct = self
            .chat
            .members(&m.room)
            .await
            .map(|n| n <= 2)
            .unwrap_or(false);
        let incoming = Incoming {
            sender: &m.sender,
            me,
            name: &self.name,
            body: &m.body,
            is_notice: m.notice,
            is_edit: m.edit,
            direct,
            mentioned: m.mentions.iter().any(|u| u == me),
            allowed,
            is_mayor: town.matrix.mayors.contains(&m.sender),
            from_resident,
            file: m.file.is_some(),
        };
        let decision = decide(&incoming);
        // Chains of residents answering residents end at the hop limit; only an allowed human
        // starts a new chain (a stranger's message must not let residents go on forever).
        if !from_resident && allowed && m.sender != me {
            self.hops.lock().expect("lock").remove(&m.room);
        }
        if from_resident && matches!(decision, Decision::Act(_)) {
            let n = {
                let mut h = self.hops.lock().expect("lock");
                let n = h.entry(m.room.clone()).or_default();
                *n += 1;
                *n
            };
            if n > HOP_LIMIT {
                if n == HOP_LIMIT + 1 {
                    let text = format!(
                        "_Stopping here: {HOP_LIMIT} resident-to-resident answers in a row. A human has to speak next._"
                    );
                    self.say(&m.room, m.thread.as_deref(), &text).await;
                }
                return None;
            }
        }
        let mut conversation = match &m.thread {
            Some(t) => format!("{}/{t}", m.room),
            None => m.room.clone(),
        };
        // A resident's request never joins the mayor's conversation or its CLI session.
        if from_resident {
            conversation = format!("{conversation}/from:{}", m.sender);
        }
        match decision {
            Decision::Pass => None,
            Decision::Refused(why) => {
                tracing::info!(resident = %self.name, "ignored: {why}");
                self.backend.audit(
                    &self.name,
                    Refused::MessageIgnored,
                    &m.sender,
                    &m.room,
                    &format!("{}: {why}", m.event),
                );
                None
            }
            Decision::MayorsOnly(c) => {
                self.say(
                    &m.room,
                    m.thread.as_deref(),
                    &format!("_Only a mayor may {}._", c.mayors_only()),
                )
                .await;
                None
            }
            Decision::Act(command) => Some(Job {
                sender: m.sender,
                reply: Reply {
                    room: m.room,
                    thread: m.thread,
                    event: m.event,
                },
                conversation,
                command,
                file: m.file,
            }),
        }
    }
}
