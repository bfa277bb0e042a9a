//! The daemon's turns: one at a time per (resident, conversation), later ones queue in
//! order (bounded); sessions continue; stop ends a resident's running turns.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::{Mutex, mpsc};

use super::{Outcome, Sessions, TurnEvent, TurnSpec, invocation, run_turn, unit_name};
use crate::config::Town;
use crate::os::OsError;
use crate::units::UserManagers;

/// How many turns may wait behind the running one in a conversation.
pub const QUEUE_MAX: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("no resident named `{0}`")]
    NoResident(String),
    #[error("{resident} already has {QUEUE_MAX} messages waiting in this conversation: queue full, try again later")]
    QueueFull { resident: String },
    #[error(transparent)]
    Os(#[from] OsError),
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
}

#[derive(Default)]
struct Lane {
    turn: Mutex<()>,
    waiting: std::sync::atomic::AtomicUsize,
}

pub struct Desk<M> {
    managers: M,
    sessions: Sessions,
    lanes: std::sync::Mutex<HashMap<(String, String), Arc<Lane>>>,
    running: std::sync::Mutex<Vec<Running>>,
}

impl<M: UserManagers + Sync> Desk<M> {
    pub fn new(managers: M, town: &Town) -> Result<Self, OsError> {
        Ok(Self {
            managers,
            sessions: Sessions::load(&town.state)?,
            lanes: Default::default(),
            running: Default::default(),
        })
    }

    pub fn running(&self) -> Vec<RunningTurn> {
        let running = self.running.lock().expect("lock");
        running
            .iter()
            .map(|r| RunningTurn {
                resident: r.resident.clone(),
                conversation: r.conversation.clone(),
                unit: r.unit.clone(),
                running_secs: r.started.elapsed().as_secs(),
            })
            .collect()
    }

    /// Run a turn when its conversation is free; events (including `Queued`) stream out.
    pub async fn turn(
        &self,
        town: &Town,
        resident: &str,
        conversation: &str,
        prompt: &str,
        fresh: bool,
        events: mpsc::Sender<TurnEvent>,
    ) -> Result<Outcome, TurnError> {
        let r = town.resident(resident).ok_or_else(|| TurnError::NoResident(resident.into()))?;
        let lane = {
            let mut lanes = self.lanes.lock().expect("lock");
            lanes.entry((resident.into(), conversation.into())).or_default().clone()
        };
        let ahead = lane.waiting.fetch_add(1, Ordering::SeqCst);
        // `ahead` counts the running turn too: QUEUE_MAX may wait behind it.
        if ahead > QUEUE_MAX {
            lane.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(TurnError::QueueFull { resident: resident.into() });
        }
        if ahead > 0 {
            let _ = events.send(TurnEvent::Queued { ahead: ahead as u32 }).await;
        }
        // tokio's Mutex is fair: turns of one conversation run in the order they came.
        let _turn = lane.turn.lock().await;
        // Counted until this turn ends, so a later message sees it ahead of itself.
        struct Leave<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _leave = Leave(&lane.waiting);

        self.managers.linger(r.uid).await?;
        if fresh {
            self.sessions.set(resident, conversation, None)?;
        }
        let session = self.sessions.get(resident, conversation);
        let unit = unit_name(resident);
        let stopped = Arc::new(AtomicBool::new(false));
        self.running.lock().expect("lock").push(Running {
            resident: resident.into(),
            uid: r.uid,
            conversation: conversation.into(),
            unit: unit.clone(),
            started: Instant::now(),
            stopped: stopped.clone(),
        });
        let spec = TurnSpec {
            uid: r.uid,
            unit: unit.clone(),
            kind: r.agent.kind,
            invocation: invocation(&r.agent, prompt, session.as_deref()),
            workdir: town.home(r).join(&r.agent.workspace),
            // Its agent signs its commits (set here too, in case the resident changed its
            // manager's environment).
            environment: r
                .agent
                .environment
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .chain([format!("SSH_AUTH_SOCK={}", crate::sign::agent_socket(resident).display())])
                .collect(),
            environment_files: r.agent.environment_files.clone(),
            limits: r.limits.clone(),
        };
        // Watch the events for the CLI's session id on their way out.
        let (tx, mut rx) = mpsc::channel(64);
        let forward = async {
            let mut last = None;
            while let Some(mut ev) = rx.recv().await {
                if let TurnEvent::Session { id } = &ev {
                    if super::bounds::session_id_ok(id) {
                        last = Some(id.clone());
                    } else {
                        let shown = super::bounds::clip(id, 40).escape_debug().to_string();
                        ev = TurnEvent::Error { message: format!("ignored a session id that is not 1-128 of [A-Za-z0-9._-]: \"{shown}…\"") };
                    }
                }
                let _ = events.send(ev).await;
            }
            last
        };
        let (outcome, last_session) = tokio::join!(run_turn(&self.managers, spec, stopped, tx), forward);
        self.running.lock().expect("lock").retain(|x| x.unit != unit);
        if let Some(id) = last_session {
            self.sessions.set(resident, conversation, Some(&id))?;
        }
        Ok(outcome?)
    }

    /// The next turn of this conversation starts a fresh CLI session.
    pub fn forget(&self, resident: &str, conversation: &str) -> Result<(), OsError> {
        self.sessions.set(resident, conversation, None)
    }

    /// Stop every running turn of `resident` (all residents when None).
    pub async fn stop(&self, resident: Option<&str>) -> Result<u32, OsError> {
        let targets: Vec<(u32, String)> = {
            let running = self.running.lock().expect("lock");
            running
                .iter()
                .filter(|r| resident.is_none_or(|n| r.resident == n))
                .map(|r| {
                    r.stopped.store(true, Ordering::SeqCst);
                    (r.uid, r.unit.clone())
                })
                .collect()
        };
        // All at once: one resident whose manager does not answer must not keep the others
        // running (or the daemon's stop past its unit's stop timeout).
        let stops = targets.iter().map(|(uid, unit)| self.managers.stop(*uid, unit));
        let mut failed = None;
        for r in futures_util::future::join_all(stops).await {
            if let Err(e) = r {
                tracing::error!("{e}");
                failed = Some(e);
            }
        }
        match failed {
            Some(e) if resident.is_some() => Err(e),
            _ => Ok(targets.len() as u32),
        }
    }

    /// `!stop`: end the resident's running turns, then its user manager with everything a
    /// turn started there (`systemd-run --user` units, timers); the next turn starts a
    /// fresh manager. Its files stay.
    pub async fn stop_resident(&self, resident: &str, uid: u32) -> Result<u32, OsError> {
        let n = self.stop(Some(resident)).await.unwrap_or_else(|e| {
            tracing::warn!("{e}");
            0
        });
        // Let the stopped turns report their end first (a few seconds at most).
        for _ in 0..50 {
            if !self.running.lock().expect("lock").iter().any(|r| r.resident == resident) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.managers.end_manager(uid).await?;
        Ok(n)
    }

    /// Stop turn units a previous daemon left in the residents' managers.
    pub async fn stop_strays(&self, town: &Town) {
        for r in &town.residents {
            match self.managers.stop_strays(r.uid).await {
                Ok(units) if !units.is_empty() => tracing::warn!(resident = %r.name, "stopped turn units an earlier daemon left running: {}", units.join(", ")),
                Ok(_) => {}
                Err(e) => tracing::warn!(resident = %r.name, "{e}"),
            }
        }
    }
}
