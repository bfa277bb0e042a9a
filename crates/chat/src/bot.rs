//! One resident's Matrix bot: what it makes of each heard event (`Bot::heard`), the hop
//! limit on residents answering residents, and the help it gives. The supervised sync loop
//! that feeds it (sync.rs) and the `Backend` it asks (backend.rs) are beside it. Everything
//! Matrix goes through the `Chat` seam, so what the bot decides is tested with FakeChat
//! (chat/tests.rs).

mod backend;
mod sync;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

pub use backend::{Answered, Backend, Ended, NotRun, TurnAsk};
pub use sync::{invited, run};

use super::policy::{Command, Decision, Incoming, decide};
use super::{Chat, Heard, Message};
use townhall_config::Town;
use townhall_wire::hall::{Refused, Reply};

pub use townhall_wire::hall::HOP_LIMIT;

pub(super) const HELP: &str = "Talk to me in plain words (in a shared room, start with my name). \
Send me a file and it lands in my workspace's inbox/; what I leave in outbox/ comes back here. Commands:\n\
`!status` what I am doing · `!cost` what my turns spent · `!session` this conversation's CLI session, to pick up at a terminal · `!stop` end the running turn (and what a usage limit holds) · `!resume` run now what a usage limit holds · `!new` start a fresh session · \
`!log [n]` the last lines of my last turn · `!branches` my branches on the town remote and my conversations' worktrees · \
`!network` what I may reach and what was refused this round · `!approvals` the rules allowed for this round with 🔁 (`!approvals clear` takes them back) · `!audit [n]` my last entries in the audit log (mayors) · `!usage [days]` a chart of my tokens and cost per day · `!model [NAME]`, `!effort [LEVEL]`, `!plan` / `!plan off` this conversation's model, effort and plan mode (`default` undoes one) · \
`!devices` the devices the town's rules match and who holds them · \
`!schedules` my schedules · `!every \"SPEC\" PROMPT` run PROMPT here at the times SPEC names (systemd's calendar syntax) · `!unschedule N` remove one · \
`!reset` say what ending my round alone would lose (`!reset all`: every resident's), then `!reset yes` to end it · `!checkpoint [label]` snapshot my home, `!checkpoints` list them, `!rollback N` then `!rollback yes` go back to one · `!lease DEVICE RESIDENT 2h` lend a device, `!release DEVICE` end it · \
`!tail DEVICE [BAUD]` follow its serial console in a thread, `!untail DEVICE` stop (these, but `!checkpoints` and `!schedules`, for mayors) · `!help`";

/// Rooms where residents answer residents, and how long the current chain is: shared by
/// every bot of the process, since the chain passes from one resident to the other.
pub type Hops = Arc<Mutex<HashMap<String, u32>>>;

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
            let human = allowed && !town.residents.iter().any(|x| x.matrix.user == sender);
            // A choice on an agent's question, from a human the resident takes commands from.
            if human
                && self
                    .backend
                    .answered(&room, target, Answered::Reaction(key.clone()), &sender)
            {
                return None;
            }
            // Only an approver's counts (`approve_by`, else the mayors); root checks again.
            let from_resident = town.residents.iter().any(|x| x.matrix.user == sender);
            if !from_resident && town.approvers(&r).contains(&sender) {
                self.backend.reacted(&room, target, key, &sender);
            } else {
                tracing::info!(resident = %self.name, %sender, "ignored a reaction from someone who does not approve");
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
        // A reply to one of the resident's open questions is its answer, not a new turn.
        if allowed
            && !from_resident
            && let Some(target) = &m.reply_to
            && self
                .backend
                .answered(&m.room, target, Answered::Reply(m.body.clone()), &m.sender)
        {
            return None;
        }
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
            approver: !from_resident && town.approvers(r).contains(&m.sender),
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
                // Root's audit log says the chain was cut here, and by whom.
                self.backend.audit(
                    &self.name,
                    Refused::MessageIgnored,
                    &m.sender,
                    &m.room,
                    &format!("{}: the hop limit ({HOP_LIMIT}) is reached", m.event),
                );
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
