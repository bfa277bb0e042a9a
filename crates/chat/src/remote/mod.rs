//! `townhall chat`: every resident's bot in one unprivileged process. It holds the Matrix
//! stores and connections; everything else it asks of the root daemon through the hall
//! (each bot's questions, as hall requests: backend.rs).

mod backend;
mod held;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;

use super::answer::Streamer;
use super::bot::{Backend, Ended, NotRun, TurnAsk};
use super::line::Pending;
use super::{Chat, MatrixChat, words};
use townhall_config::Town;
use townhall_wire::backoff::Backoff;
use townhall_wire::hall::TurnEvent;
use townhall_wire::hall::{Ask, Counter, Delivery, HallError, Notice, Refused, Said};

/// What waits for a resident's bot to connect.
enum Waiting {
    Notice(Notice),
    Answer(Box<Delivery>),
}

pub struct Remote {
    dir: PathBuf,
    town: RwLock<Arc<Town>>,
    store: PathBuf,
    counter: Counter,
    chats: Mutex<HashMap<String, MatrixChat>>,
    waiting: Mutex<HashMap<String, Vec<Waiting>>>,
    health: Mutex<HashMap<String, String>>,
    bots: Mutex<HashSet<String>>,
    /// Answers this process put in their rooms: one the daemon offers again (its
    /// confirmation was lost in a restart) is confirmed, not posted twice.
    posted: Mutex<HashSet<u64>>,
    /// Answers a live asker of this process is posting now: the daemon offers every
    /// unconfirmed answer to a new subscription, and one of these is left to its asker.
    answering: Mutex<HashSet<u64>>,
    /// Approval questions posted and not yet ended.
    asked: super::approvals::Asked,
    /// Agents' questions to the mayors posted and not yet ended.
    questions: super::questions::Questions,
    /// What every bot of this process shares (hop chains, reset offers).
    shared: Arc<super::shared::Shared>,
    /// Places in line waiting for the deliveries that answer them.
    held: held::Held,
    /// Each bot's presence, following what root says its resident does.
    presences: super::presence::Presences,
}

/// The Matrix stores: the unit's state directory, else (run by hand) the town's.
pub fn store_root(town: &Town) -> PathBuf {
    std::env::var_os("STATE_DIRECTORY")
        .map(PathBuf::from)
        .unwrap_or_else(|| town.state.join("matrix"))
}

impl Remote {
    pub fn new(dir: &Path, town: Town, counter: Counter) -> Self {
        Self {
            dir: dir.to_path_buf(),
            store: store_root(&town),
            town: RwLock::new(Arc::new(town)),
            counter,
            chats: Default::default(),
            waiting: Default::default(),
            health: Default::default(),
            bots: Default::default(),
            posted: Default::default(),
            answering: Default::default(),
            asked: Default::default(),
            questions: Default::default(),
            shared: Default::default(),
            held: Default::default(),
            presences: Default::default(),
        }
    }

    /// Markdown made from a request's own reply (`pick`), or why there is none.
    async fn said(&self, ask: Ask, pick: impl FnOnce(Said) -> Result<String, Box<Said>>) -> String {
        self.counter
            .ask_for(ask, pick)
            .await
            .unwrap_or_else(|e| format!("_The supervisor did not answer: {e}_"))
    }

    /// Send a request whose only answer is Done (or a refusal).
    async fn done(&self, ask: Ask) -> Result<(), HallError> {
        self.counter.call(ask).await.map(|_| ())
    }

    /// Fire and forget, for requests nobody waits on.
    fn tell_daemon(&self, ask: Ask) {
        let counter = self.counter.clone();
        tokio::spawn(async move {
            if let Err(e) = counter.call(ask).await {
                tracing::warn!("{e}");
            }
        });
    }

    /// Start a bot for each resident that has none, whose Matrix password is deployed.
    fn start_bots(self: &Arc<Self>) {
        let town = self.town();
        for r in &town.residents {
            let password = super::credentials::password(r);
            if !password.exists() {
                tracing::warn!(resident = %r.name, "no Matrix bot: {} is missing", password.display());
                self.chat_health(
                    &r.name,
                    format!("no bot: {} is missing", password.display()),
                );
                continue;
            }
            if self.bots.lock().expect("lock").insert(r.name.clone()) {
                let (me, name) = (self.clone(), r.name.clone());
                let shared = self.shared.clone();
                tokio::spawn(async move {
                    super::bot::run(me.clone(), name.clone(), shared).await;
                    me.bots.lock().expect("lock").remove(&name);
                });
            }
        }
    }

    fn reload(self: &Arc<Self>) {
        match townhall_config::load(&self.dir) {
            Ok(town) => {
                *self.town.write().expect("lock") = Arc::new(town);
                tracing::info!("configuration reloaded");
                self.start_bots();
            }
            Err(e) => tracing::error!(
                "the daemon reloaded, but this chat cannot read the configuration:\n{e}"
            ),
        }
    }

    /// Stay subscribed to the daemon: notices, answers whose asker was an earlier chat, reloads.
    async fn subscribe(self: Arc<Self>) {
        // Back within 2 s of a restarted daemon, as its kept answers and notices wait.
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        loop {
            match self.counter.open_once(Ask::Subscribe).await {
                Ok(mut said) => loop {
                    match said.next().await {
                        Ok(Some(s)) => {
                            backoff.succeeded();
                            self.heard(s);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!("subscription: {e}");
                            break;
                        }
                    }
                },
                Err(e) if e.restarting() => tracing::debug!("{e}"),
                Err(e) => tracing::warn!("{e}"),
            }
            let pause = backoff.failed().expect("a backoff without a deadline");
            tokio::time::sleep(pause).await;
        }
    }

    fn heard(self: &Arc<Self>, said: Said) {
        match said {
            Said::Welcome { version } => {
                tracing::info!(version, "subscribed to the townhall daemon");
                // A daemon that (re)started knows nothing of the bots: say it all again.
                self.health.lock().expect("lock").clear();
            }
            Said::Notice { resident, notice } => self.hand(&resident, Waiting::Notice(notice)),
            Said::Deliver(d) => self.hand(&d.resident.clone(), Waiting::Answer(Box::new(d))),
            Said::Reloaded => self.reload(),
            Said::Activity { resident, activity } => self.presences.set(&resident, activity),
            // Time-bound: with no bot connected the daemon's wait answers, not a later post,
            // and an agent's words mid-turn are news only while it runs.
            s @ (Said::Approval { .. }
            | Said::ApprovalEnded { .. }
            | Said::Question { .. }
            | Said::QuestionEnded { .. }
            | Said::Told { .. }
            | Said::SendFile { .. }) => {
                let Some(chat) = s
                    .resident()
                    .and_then(|r| self.chats.lock().expect("lock").get(r).cloned())
                else {
                    // A file waits for its upload: say at once that none comes.
                    if let Said::SendFile { id, resident, .. } = s {
                        let me = self.clone();
                        let error = Some(format!("{resident}'s bot is not connected"));
                        tokio::spawn(async move {
                            let _ = me.done(Ask::FileSent { id, error }).await;
                        });
                    }
                    return;
                };
                let me = self.clone();
                tokio::spawn(async move {
                    match s {
                        Said::Told {
                            resident,
                            room,
                            thread,
                            text,
                        } => {
                            if let Err(e) = chat.send(&room, thread.as_deref(), &text).await {
                                tracing::warn!(%resident, "telling the room: {e}");
                            }
                        }
                        Said::SendFile {
                            id,
                            resident,
                            room,
                            thread,
                            file,
                        } => {
                            me.send_file(&chat, id, &resident, &room, thread.as_deref(), file)
                                .await
                        }
                        s @ (Said::Question { .. } | Said::QuestionEnded { .. }) => {
                            me.questions.heard(&chat, s).await
                        }
                        s => me.asked.heard(&chat, s).await,
                    }
                });
            }
            other => tracing::debug!("unexpected on the subscription: {other:?}"),
        }
    }

    /// Out through the resident's bot, or kept until it connects.
    fn hand(self: &Arc<Self>, resident: &str, what: Waiting) {
        let Some(chat) = self.chats.lock().expect("lock").get(resident).cloned() else {
            self.waiting
                .lock()
                .expect("lock")
                .entry(resident.to_string())
                .or_default()
                .push(what);
            return;
        };
        let (me, resident) = (self.clone(), resident.to_string());
        tokio::spawn(async move {
            match what {
                Waiting::Notice(notice) => {
                    let text = words::notice(&resident, &notice);
                    let town = me.town();
                    let rooms: Vec<String> = match &notice {
                        // Said where the schedule answers, not in every declared room.
                        Notice::ScheduleSkipped { room, .. }
                        | Notice::EventsStopped { room, .. }
                        | Notice::Parked { room, .. } => vec![room.clone()],
                        _ => town
                            .resident(&resident)
                            .map(|r| {
                                r.rooms
                                    .iter()
                                    .filter(|x| x.starts_with('!'))
                                    .cloned()
                                    .collect()
                            })
                            .unwrap_or_default(),
                    };
                    for room in rooms {
                        if let Err(e) = chat.send(&room, None, &text).await {
                            tracing::warn!("notice to {room}: {e}");
                        }
                    }
                }
                Waiting::Answer(d) if me.posted.lock().expect("lock").contains(&d.id) => {
                    me.delivered(d.id).await
                }
                Waiting::Answer(d) if me.answering.lock().expect("lock").contains(&d.id) => {
                    tracing::debug!(delivery = d.id, "offered again while its asker posts it");
                }
                Waiting::Answer(d) => me.post_late(&chat, *d).await,
            }
        });
    }

    /// A file an agent sent mid-turn: uploaded, and root told how it went.
    async fn send_file(
        &self,
        chat: &MatrixChat,
        id: u64,
        resident: &str,
        room: &str,
        thread: Option<&str>,
        file: townhall_wire::hall::Outgoing,
    ) {
        let max = self
            .town()
            .resident(resident)
            .map_or(0, |r| r.files.max_bytes);
        let failed = super::files::post(chat, room, thread, &[file], max).await;
        let error = (!failed.is_empty()).then(|| failed.join("; "));
        if let Err(e) = self.done(Ask::FileSent { id, error }).await {
            tracing::warn!(%resident, "telling root how a sent file went: {e}");
        }
    }

    /// An answer whose asker (an earlier chat process) went away mid-turn.
    async fn post_late(&self, chat: &MatrixChat, d: Delivery) {
        let line = self.held.take(&d.answers).await;
        let mut s = Streamer::new(chat, &d.reply.room, d.reply.thread.as_deref()).in_line(line);
        let outcome = d.outcome.clone().ok_or_else(|| {
            NotRun(
                d.errors
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "the turn could not run".into()),
            )
        });
        // A turn no message asked for says what started it; any other waited for a restart.
        let (head, late) = match &d.came {
            Some(c) => (Some(words::came(c)), None),
            None => (None, Some(words::LATE)),
        };
        let footer = match (words::footer(&outcome, &d.errors), late) {
            (Some(f), Some(l)) => format!("{f}\n{l}"),
            (Some(f), None) => f,
            (None, l) => l.unwrap_or_default().to_string(),
        };
        let posted = async {
            if let Some(h) = &head {
                s.push(&format!("{h}\n\n")).await?;
            }
            s.push(&d.text).await?;
            s.finish(Some(&footer)).await
        };
        let posted = posted.await;
        if let (Some(o), Some(r)) = (&d.outcome, self.town().resident(&d.resident)) {
            super::files::post(
                chat,
                &d.reply.room,
                d.reply.thread.as_deref(),
                &o.files,
                r.files.max_bytes,
            )
            .await;
        }
        match posted {
            Ok(()) => self.delivered(d.id).await,
            Err(e) => tracing::warn!("posting a kept answer in {}: {e}", d.reply.room),
        }
    }
}

/// The chat speaks for strangers' messages; as root a flaw in it would be root's.
pub fn refuse_root() -> anyhow::Result<()> {
    if nix::unistd::geteuid().is_root() {
        anyhow::bail!(
            "townhall chat refuses to run as root: it reads what anyone in a room sends, so it \
             runs as the unprivileged townhall-chat user\n  \
             help: start it as its unit (systemctl start townhall-chat), or as that user: \
             runuser -u townhall-chat -- townhall-chat"
        );
    }
    Ok(())
}

/// Run every resident's bot until SIGTERM.
pub async fn run(dir: &Path, town: Town) -> anyhow::Result<()> {
    let remote = Arc::new(Remote::new(dir, town, Counter::new()));
    tracing::info!(store = %remote.store.display(), hall = %remote.counter.path.display(), "townhall chat starting");
    tokio::spawn(remote.clone().subscribe());
    remote.start_bots();
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
    }
    Ok(())
}
