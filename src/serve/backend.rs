//! What the control socket and the chat bots ask of the daemon.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::Daemon;
use crate::config::Town;
use crate::control::{self, Request, Response};
use crate::grant::Acls;
use crate::resident::Accounts;
use crate::units::UserManagers;

impl<A, M, G> control::Handler for Daemon<A, M, G>
where
    A: Accounts + Send + Sync + 'static,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    async fn handle(&self, req: Request, out: mpsc::Sender<Response>) {
        let error = |e: &dyn std::fmt::Display| Response::Error { message: e.to_string() };
        let answer = match req {
            Request::Status => Response::Status(self.status()),
            Request::Devices => Response::Devices { devices: self.keeper.status() },
            Request::Reload => match self.reload() {
                Ok(town) => Response::Reloaded { residents: town.residents.len() as u32 },
                Err(e) => Response::Error { message: format!("reload refused, the running configuration stays:\n{e}") },
            },
            Request::RoundBegan => {
                self.round_began();
                Response::Done
            }
            Request::StopTurns => match self.desk.stop(None).await {
                Ok(turns) => Response::Stopped { turns },
                Err(e) => error(&e),
            },
            Request::Stop { resident } => match self.town().resident(&resident).map(|r| r.uid) {
                None => Response::Error { message: format!("no resident named `{resident}`") },
                Some(uid) => match self.desk.stop_resident(&resident, uid).await {
                    Ok(turns) => Response::Stopped { turns },
                    Err(e) => error(&e),
                },
            },
            Request::Turn { resident, conversation, prompt, fresh } => {
                let (tx, mut rx) = mpsc::channel(64);
                let forward = async {
                    while let Some(ev) = rx.recv().await {
                        let _ = out.send(Response::Event(ev)).await;
                    }
                };
                let town = self.town();
                let turn = self.desk.turn(&town, &resident, &conversation, &prompt, fresh, tx);
                let (result, ()) = tokio::join!(turn, forward);
                match result {
                    Ok(outcome) => {
                        tracing::info!(%resident, result = %outcome.result, status = outcome.status, "turn ended");
                        self.last_turn.lock().expect("lock").insert(resident, outcome.clone());
                        Response::TurnDone(outcome)
                    }
                    Err(e) => error(&e),
                }
            }
        };
        let _ = out.send(answer).await;
    }
}

/// Memory and CPU time of a uid's processes, as sysinfo sees them.
fn usage(uid: u32) -> (usize, u64, u64) {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
    let mut sys = System::new();
    let what = ProcessRefreshKind::nothing().with_memory().with_cpu().with_user(UpdateKind::Always);
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, what);
    let mine: Vec<_> = sys.processes().values().filter(|p| p.user_id().is_some_and(|u| **u == uid)).collect();
    let memory = mine.iter().map(|p| p.memory()).sum();
    let cpu_ms = mine.iter().map(|p| p.accumulated_cpu_time()).sum();
    (mine.len(), memory, cpu_ms)
}

impl<A, M, G> crate::chat::bot::Backend for Daemon<A, M, G>
where
    A: Accounts + Send + Sync + 'static,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    fn town(&self) -> Arc<Town> {
        Daemon::town(self)
    }

    async fn turn(&self, resident: &str, conversation: &str, prompt: &str, fresh: bool, events: mpsc::Sender<crate::turn::TurnEvent>) -> Result<crate::turn::Outcome, String> {
        let town = Daemon::town(self);
        let outcome = self.desk.turn(&town, resident, conversation, prompt, fresh, events).await.map_err(|e| e.to_string())?;
        self.last_turn.lock().expect("lock").insert(resident.to_string(), outcome.clone());
        Ok(outcome)
    }

    async fn stop(&self, resident: &str) -> u32 {
        let Some(uid) = Daemon::town(self).resident(resident).map(|r| r.uid) else { return 0 };
        self.desk.stop_resident(resident, uid).await.unwrap_or_else(|e| {
            tracing::error!("{e}");
            0
        })
    }

    fn forget_session(&self, resident: &str, conversation: &str) -> Result<(), String> {
        self.desk.forget(resident, conversation).map_err(|e| e.to_string())
    }

    fn status_of(&self, resident: &str) -> String {
        let town = Daemon::town(self);
        let Some(r) = town.resident(resident) else { return format!("no resident {resident}") };
        let round = crate::round::RoundState::new(&town.state).round();
        let turns: Vec<String> = self
            .desk
            .running()
            .into_iter()
            .filter(|t| t.resident == resident)
            .map(|t| format!("running for {} s in `{}`", t.running_secs, t.conversation))
            .collect();
        let (procs, memory, cpu_ms) = usage(r.uid);
        let chat = self.chat_health.lock().expect("lock").get(resident).cloned().unwrap_or_default();
        let last = crate::round::RoundState::new(&town.state).last().unwrap_or_default();
        let notes: String = super::last_reset_notes(&last, resident).iter().map(|n| format!("\n- last reset: {n}")).collect();
        format!(
            "**{resident}** — round {round}, supervisor up {} s\n- turn: {}\n- processes: {procs}, memory {:.1} MiB, CPU time {:.1} s\n- chat: {chat}{notes}",
            self.started.elapsed().as_secs(),
            if turns.is_empty() { "idle".into() } else { turns.join("; ") },
            memory as f64 / (1 << 20) as f64,
            cpu_ms as f64 / 1000.0,
        )
    }

    fn branches_of(&self, resident: &str) -> String {
        crate::remote::branches(&Daemon::town(self), resident)
    }

    fn log_of(&self, resident: &str, lines: usize) -> String {
        match self.last_turn.lock().expect("lock").get(resident) {
            None => "_No turn has ended since the supervisor started._".into(),
            Some(o) => {
                let tail: Vec<_> = o.stderr_tail.iter().rev().take(lines).rev().cloned().collect();
                format!("Last turn: {} (status {}, {} ms)\n```\n{}\n```", o.result, o.status, o.duration_ms, tail.join("\n"))
            }
        }
    }

    async fn reset(&self, by: &str) -> Result<String, String> {
        let _ = self.desk.stop(None).await;
        let town = Daemon::town(self);
        let by = by.to_string();
        let r = tokio::task::spawn_blocking(move || {
            let seams = crate::round::host_seams();
            let _lock = crate::round::lock(&town.state).map_err(|e| e.to_string())?;
            for line in crate::round::recover(&town, seams.subvolumes, seams.files).map_err(|e| e.to_string())? {
                tracing::warn!("reset: {line}");
            }
            let mut plan = crate::round::plan_reset(&town, seams.subvolumes, seams.files, seams.accounts)
                .map_err(|r| r.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n"))?;
            for p in crate::sign::sign_plan(&mut plan, &town) {
                tracing::warn!("reset: {p}");
            }
            let report = crate::round::run_reset(&plan, &seams, &town.state, &by, &mut |m| tracing::info!("reset: {m}")).map_err(|e| e.to_string())?;
            for p in crate::remote::after_reset(&town) {
                tracing::warn!("reset: {p}");
            }
            let mut text = format!("**Round {} begins** (reset in {} ms).", report.round, report.duration_ms);
            for w in report.warnings() {
                text.push_str(&format!("\n- ⚠ {w}"));
            }
            Ok(text)
        })
        .await
        .map_err(|e| e.to_string())?;
        if r.is_ok() {
            self.round_began();
        }
        r
    }

    fn audit(&self, event: &str, detail: serde_json::Value) {
        if let Err(e) = crate::audit::append(&Daemon::town(self).state, event, &detail) {
            tracing::warn!("{e}");
        }
    }

    fn chat_health(&self, resident: &str, health: String) {
        Daemon::chat_health(self, resident, health)
    }

    fn connected(&self, resident: &str, chat: crate::chat::MatrixChat) {
        self.chats.lock().expect("lock").insert(resident.to_string(), chat);
        self.flush(resident);
    }
}
