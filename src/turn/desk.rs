//! The daemon's turn actor: it opens a turn (budget, session), runs the CLI's unit, and
//! records what came of it (session, spending). Which turn runs when is the
//! conversation state's to say (`conversation`); stop ends a resident's running turns.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use tokio::sync::mpsc;

use super::opening::{self, Opening};
use super::sessions::Session;
use super::watch::Watch;
use super::{
    Ledger, Outcome, RoundSpent, Sessions, Spent, TurnEvent, TurnSpec, invocation, run_turn,
    unit_name,
};
use crate::config::Town;
use crate::os::OsError;
use crate::units::UserManagers;
use crate::worktree::{Kept, Opened, Worktrees};

#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("no resident named `{0}`")]
    NoResident(String),
    #[error(
        "{resident} has spent {spent} of this round's budget of {budget}: no new turns until the next round (`!reset`), or raise [budget] in residents/{resident}.toml"
    )]
    OverBudget {
        resident: String,
        spent: String,
        budget: String,
    },
    #[error(transparent)]
    Os(#[from] OsError),
    #[error(transparent)]
    Round(#[from] crate::round::RoundFileError),
}

/// One run's outcome, and whether it failed for want of the session it resumed.
struct Ran {
    outcome: Outcome,
    lost_session: bool,
    spent: Spent,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct RunningTurn {
    pub resident: String,
    pub conversation: String,
    pub unit: String,
    pub running_secs: u64,
}

struct Running {
    resident: String,
    uid: u32,
    conversation: String,
    unit: String,
    started: Instant,
    stopped: Arc<AtomicBool>,
    /// The turn's token for the town's tools (src/tools), and what it used them for.
    token: String,
    tools: std::collections::BTreeMap<String, u32>,
}

impl Running {
    /// What may be said of it outside the desk (never its token).
    fn shown(&self) -> RunningTurn {
        RunningTurn {
            resident: self.resident.clone(),
            conversation: self.conversation.clone(),
            unit: self.unit.clone(),
            running_secs: self.started.elapsed().as_secs(),
        }
    }
}

pub struct Desk<M> {
    pub(super) managers: M,
    /// Where a turn's approval hooks are published (gemini reads them from there).
    public: Box<dyn crate::public::PublicFiles + Send + Sync>,
    pub(super) sessions: Sessions,
    /// Each conversation's model, effort and plan mode.
    pub modes: super::modes::Modes,
    pub(super) ledger: Ledger,
    running: std::sync::Mutex<Vec<Running>>,
    /// The latest turns that ended, with when they did, newest last.
    ended: std::sync::Mutex<std::collections::VecDeque<(Running, Instant)>>,
    /// Conversations' own worktrees: git as the resident makes them, root keeps which is
    /// whose; one resident's are made one at a time.
    worktrees: Arc<dyn Worktrees + Send + Sync>,
    kept: Kept,
    placing: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The exit status systemd gives a unit whose working directory could not be entered.
const CHDIR_FAILED: i32 = 200;
/// How many ended turns are kept, to name the turn something just seen came from.
const ENDED_KEPT: usize = 64;
/// Something seen this soon after a turn ended is still that turn's (the kernel's word of
/// a packet reaches root a moment after the packet).
const JUST_ENDED: std::time::Duration = std::time::Duration::from_secs(2);

impl<M: UserManagers + Sync> Desk<M> {
    pub fn new(
        managers: M,
        public: Box<dyn crate::public::PublicFiles + Send + Sync>,
        worktrees: Arc<dyn Worktrees + Send + Sync>,
        town: &Town,
    ) -> Result<Self, OsError> {
        Ok(Self {
            managers,
            public,
            sessions: Sessions::load(&town.state)?,
            modes: super::modes::Modes::load(&town.state)?,
            ledger: Ledger::load(&town.state)?,
            running: Default::default(),
            ended: Default::default(),
            worktrees,
            kept: Kept::load(&town.state)?,
            placing: Default::default(),
        })
    }

    /// Where the conversation's turns run this round, and on which branch: its own
    /// worktree when the workspace is a repository's top (made at its first turn), else
    /// the workspace. A worktree that could not be made is said, and the conversation
    /// stays in the workspace for the round (it never moves between turns).
    async fn place(
        &self,
        town: &Town,
        r: &crate::config::Resident,
        round: u64,
        conversation: &str,
        prompt: &str,
        events: &mpsc::Sender<TurnEvent>,
    ) -> Result<(PathBuf, Option<String>), TurnError> {
        let found = |kept: &Kept| kept.get(&r.name, conversation, round);
        let slug = match found(&self.kept) {
            Some(slug) => slug,
            None => {
                let one = self
                    .placing
                    .lock()
                    .expect("lock")
                    .entry(r.name.clone())
                    .or_default()
                    .clone();
                let _one = one.lock().await;
                match found(&self.kept) {
                    Some(slug) => slug,
                    None => {
                        let names = self.names(r, round, conversation, prompt);
                        let slug = self.open(town, r, names, events).await;
                        self.kept.set(&r.name, conversation, round, slug.clone())?;
                        slug
                    }
                }
            }
        };
        Ok(match slug {
            Some(s) => (
                PathBuf::from(crate::worktree::DIR).join(&s),
                Some(crate::worktree::branch(&r.name, &s)),
            ),
            None => (r.agent.workspace.clone(), None),
        })
    }

    /// The names a new conversation's worktree may take: from the first words of its first
    /// prompt, never one another conversation of the round has.
    fn names(
        &self,
        r: &crate::config::Resident,
        round: u64,
        conversation: &str,
        prompt: &str,
    ) -> crate::worktree::Names {
        use std::hash::{Hash, Hasher};
        let base = crate::worktree::slug(prompt);
        let mut mark = std::collections::hash_map::DefaultHasher::new();
        (conversation, round).hash(&mut mark);
        let last = format!("{base}-{:08x}", mark.finish() as u32);
        let others = self.kept.of_round(&r.name, round);
        crate::worktree::Names {
            base,
            last,
            others: others.into_iter().map(|(_, s)| s).collect(),
        }
    }

    /// A new worktree for a conversation, as the resident.
    async fn open(
        &self,
        town: &Town,
        r: &crate::config::Resident,
        names: crate::worktree::Names,
        events: &mpsc::Sender<TurnEvent>,
    ) -> Option<String> {
        let (worktrees, resident, home) = (self.worktrees.clone(), r.clone(), town.home(r));
        let opened =
            tokio::task::spawn_blocking(move || worktrees.open(&resident, &home, &names)).await;
        let why = match opened {
            Ok(Ok(Opened::Made { slug })) => return Some(slug),
            Ok(Ok(Opened::NotARepo | Opened::NoCommit)) => return None,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(resident = %r.name, "no worktree for a conversation: {why}");
        let text = format!(
            "This conversation works in the shared workspace this round: no worktree of its own could be made ({why})."
        );
        let _ = events.send(TurnEvent::Notice { text }).await;
        None
    }

    /// The resident's turn running at `at` (the newest, if several), or one that had just
    /// ended then.
    pub fn turn_at(&self, resident: &str, at: Instant) -> Option<String> {
        let running = self.running.lock().expect("lock");
        let now = running
            .iter()
            .filter(|r| r.resident == resident && r.started <= at)
            .max_by_key(|r| r.started)
            .map(|r| r.unit.clone());
        drop(running);
        now.or_else(|| {
            let ended = self.ended.lock().expect("lock");
            ended
                .iter()
                .rev()
                .find(|(r, end)| {
                    r.resident == resident && r.started <= at && at <= *end + JUST_ENDED
                })
                .map(|(r, _)| r.unit.clone())
        })
    }

    /// The turn `unit` is no longer running: kept among the ended (its token forgotten);
    /// what it used the town's tools for.
    fn ended_now(&self, unit: &str) -> std::collections::BTreeMap<String, u32> {
        let mut running = self.running.lock().expect("lock");
        let Some(i) = running.iter().position(|x| x.unit == unit) else {
            return Default::default();
        };
        let mut r = running.remove(i);
        drop(running);
        r.token.clear();
        let tools = std::mem::take(&mut r.tools);
        let mut ended = self.ended.lock().expect("lock");
        if ended.len() == ENDED_KEPT {
            ended.pop_front();
        }
        ended.push_back((r, Instant::now()));
        tools
    }

    /// The running turn of uid `uid` that `token` names, if any.
    pub fn turn_of(&self, uid: u32, token: &str) -> Option<RunningTurn> {
        let running = self.running.lock().expect("lock");
        running
            .iter()
            .find(|r| r.uid == uid && crate::tools::token::same(&r.token, token))
            .map(Running::shown)
    }

    /// Turn `unit` used the town's tool `what` (for its answer's footer).
    pub fn used(&self, unit: &str, what: &str) {
        let mut running = self.running.lock().expect("lock");
        if let Some(r) = running.iter_mut().find(|r| r.unit == unit) {
            *r.tools.entry(what.to_string()).or_default() += 1;
        }
    }

    pub fn running(&self) -> Vec<RunningTurn> {
        let running = self.running.lock().expect("lock");
        running.iter().map(Running::shown).collect()
    }

    /// Run a turn now (its conversation's earlier turn has ended); its events stream out.
    pub async fn turn(
        &self,
        town: &Town,
        resident: &str,
        conversation: &str,
        prompt: &str,
        fresh: bool,
        events: mpsc::Sender<TurnEvent>,
    ) -> Result<Outcome, TurnError> {
        let r = town
            .resident(resident)
            .ok_or_else(|| TurnError::NoResident(resident.into()))?;
        let round = crate::round::RoundState::new(&town.state).round_of(resident)?;
        let kind = r.agent.kind;
        let opening = opening::open(
            &r.budget,
            &self.ledger.round(round, resident).total,
            fresh,
            self.sessions.get(resident, conversation),
            kind,
        );
        let (session, forget, notice) = match opening {
            Opening::OverBudget { spent, budget } => {
                return Err(TurnError::OverBudget {
                    resident: resident.into(),
                    spent,
                    budget,
                });
            }
            Opening::Run {
                resume,
                forget,
                notice,
            } => (resume, forget, notice),
        };
        // Through the gate, the turn's figure is what the gate recorded meanwhile.
        let gated = r.agent.api.is_some();
        let before = self
            .conversation_spent(round, resident, conversation)
            .unwrap_or_default();
        self.managers.linger(r.uid).await?;
        if forget {
            self.sessions.set(resident, conversation, None)?;
        }
        if let Some(text) = notice {
            let _ = events.send(TurnEvent::Notice { text }).await;
        }
        let (workdir, branch) = self
            .place(town, r, round, conversation, prompt, &events)
            .await?;
        let place = (workdir.as_path(), conversation);
        let mut run = self
            .run_once(town, r, place, prompt, session.as_ref(), &events)
            .await;
        // Its state went away (a reset without it persisted, or deleted): once more, afresh.
        if let (Some(s), Ok((o, _))) = (&session, &run)
            && o.lost_session
        {
            let lost = o.spent;
            tracing::info!(
                resident,
                conversation,
                "{kind:?} no longer has session {}; starting afresh",
                s.id
            );
            let text = opening::lost(kind, s);
            let _ = events.send(TurnEvent::Notice { text }).await;
            self.sessions.set(resident, conversation, None)?;
            run = self.run_once(town, r, place, prompt, None, &events).await;
            if let Ok((ran, _)) = &mut run {
                ran.spent.add(&lost);
            }
        }
        let (ran, last) = run?;
        // A gated CLI's own figures count for nothing: its calls were counted at the gate.
        let printed = match gated {
            true => Spent::default(),
            false => ran.spent,
        };
        let (mut outcome, counted) = (
            ran.outcome,
            Spent {
                turns: 1,
                ..printed
            },
        );
        if let Some(s) = last {
            outcome.session = Some(s.id.clone());
            self.sessions.set(resident, conversation, Some(s))?;
        }
        self.ledger
            .record(round, resident, conversation, &counted)?;
        let now = self.conversation_spent(round, resident, conversation);
        let spent = match gated {
            true => now.unwrap_or_default().since(&before),
            false => counted,
        };
        outcome.spent = Some(spent);
        outcome.conversation_spent = now;
        // systemd could not enter the worktree (the resident removed it): the conversation
        // is placed again at its next turn.
        if branch.is_some() && outcome.status == CHDIR_FAILED {
            self.kept.unplace(resident, conversation)?;
            let text = format!(
                "~/{} is no longer there: this conversation's next turn gets a worktree of its own again.",
                workdir.display()
            );
            let _ = events.send(TurnEvent::Notice { text }).await;
        }
        outcome.branch = branch;
        Ok(outcome)
    }

    /// The resident's conversations' worktrees in `round`: (conversation, name).
    pub fn worktrees_of(&self, resident: &str, round: u64) -> Vec<(String, String)> {
        self.kept.of_round(resident, round)
    }

    /// The conversation's CLI session id, for `!session`.
    pub fn session(&self, resident: &str, conversation: &str) -> Option<String> {
        self.sessions.get(resident, conversation).map(|s| s.id)
    }

    /// What the resident spent in `round`.
    pub fn spent(&self, round: u64, resident: &str) -> RoundSpent {
        self.ledger.round(round, resident)
    }

    /// Its totals of the rounds kept, newest first.
    pub fn spent_by_round(&self, resident: &str) -> Vec<(u64, Spent)> {
        self.ledger.rounds(resident)
    }

    /// One run of the CLI in `workdir` (relative to the home) for `conversation`, resuming
    /// `session` if given; what it says is forwarded, except the errors of a resume that
    /// turns out lost (the caller starts afresh instead).
    async fn run_once(
        &self,
        town: &Town,
        r: &crate::config::Resident,
        (workdir, conversation): (&std::path::Path, &str),
        prompt: &str,
        session: Option<&Session>,
        events: &mpsc::Sender<TurnEvent>,
    ) -> Result<(Ran, Option<Session>), TurnError> {
        let (resident, kind) = (r.name.as_str(), r.agent.kind);
        let unit = unit_name(resident);
        let token = crate::tools::token::new();
        let stopped = Arc::new(AtomicBool::new(false));
        self.running.lock().expect("lock").push(Running {
            resident: resident.into(),
            uid: r.uid,
            conversation: conversation.into(),
            unit: unit.clone(),
            started: Instant::now(),
            stopped: stopped.clone(),
            token: token.clone(),
            tools: Default::default(),
        });
        let home = town.home(r);
        let mode = super::modes::still(r, &self.modes.get(resident, conversation));
        let mut invocation = invocation(
            &r.agent,
            prompt,
            session.map(|s| s.id.as_str()),
            &home,
            &mode,
        );
        // The town's tools and the approval hooks: both ask root, naming this turn.
        if let Err(e) = crate::tools::declare::arm(&mut invocation, r, &unit, &token, &*self.public)
        {
            self.running
                .lock()
                .expect("lock")
                .retain(|x| x.unit != unit);
            return Err(e.into());
        }
        // The kind's defaults, then the resident's own (its environment files, read by
        // systemd, override both). Its agent signs its commits (set last, in case the
        // resident changed its manager's environment).
        let mut environment: std::collections::BTreeMap<String, String> =
            invocation.environment.iter().cloned().collect();
        environment.extend(r.agent.environment.clone());
        environment.insert(
            "SSH_AUTH_SOCK".into(),
            crate::sign::agent_socket(resident).display().to_string(),
        );
        let spec = TurnSpec {
            uid: r.uid,
            unit: unit.clone(),
            kind,
            invocation,
            workdir: home.join(workdir),
            environment: environment
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
            environment_files: r.agent.environment_files.clone(),
            limits: r.limits.clone(),
        };
        // The watch decides what of the CLI's events reaches the room, and when.
        let (tx, mut rx) = mpsc::channel(64);
        let mut watch = Watch::new(kind, session);
        let forward = async {
            while let Some(ev) = rx.recv().await {
                for e in watch.event(ev) {
                    let _ = events.send(e).await;
                }
            }
        };
        let (outcome, ()) = tokio::join!(run_turn(&self.managers, spec, stopped, tx), forward);
        let tools = self.ended_now(&unit);
        let mut outcome = outcome?;
        outcome.tools = tools;
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let watched = watch.end(outcome.status, &outcome.stderr_tail, at);
        for e in watched.release {
            let _ = events.send(e).await;
        }
        Ok((
            Ran {
                outcome,
                lost_session: watched.lost_session,
                spent: watched.spent,
            },
            watched.session,
        ))
    }

    /// The next turn of this conversation starts a fresh CLI session.
    pub fn forget(&self, resident: &str, conversation: &str) -> Result<(), OsError> {
        self.sessions.set(resident, conversation, None)
    }
}

mod stop;
