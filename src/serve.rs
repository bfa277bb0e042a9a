//! `townhall serve`: the daemon. Holds the town, runs turns, answers on the control socket.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::sync::{Notify, mpsc};

use crate::config::Town;
use crate::control::{self, Request, ResidentStatus, Response, StatusReport};
use crate::grant::{Acls, Change, DeviceEvent, Devices, Keeper, interest};
use crate::resident::Accounts;
use crate::turn::Desk;
use crate::units::UserManagers;

pub struct Daemon<A, M, G> {
    town: RwLock<Arc<Town>>,
    /// Per resident: how its Matrix sync loop is doing, and its last turn.
    chat_health: std::sync::Mutex<std::collections::HashMap<String, String>>,
    last_turn: std::sync::Mutex<std::collections::HashMap<String, crate::turn::Outcome>>,
    /// Each resident's connected bot, for notices to its rooms.
    chats: std::sync::Mutex<std::collections::HashMap<String, crate::chat::MatrixChat>>,
    accounts: A,
    desk: Desk<M>,
    keeper: Keeper<G>,
    /// Woken on reload, so the device watcher re-reads the rules.
    reloaded: Notify,
    started: Instant,
}

/// Declared limits the resident's user manager cannot enforce, because its cgroup does not
/// delegate the controller (read from cgroup v2's subtree_control).
fn unenforced(uid: u32, limits: &crate::config::Limits) -> Vec<String> {
    let path = format!("/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service/cgroup.subtree_control");
    let Ok(delegated) = std::fs::read_to_string(&path) else {
        return vec![format!("no cgroup for uid {uid} yet ({path}): limits hold once its user manager runs")];
    };
    let wanted = [
        ("memory", limits.memory_bytes.is_some(), "memory"),
        ("cpu", limits.cpu_percent.is_some(), "cpu"),
        ("tasks", limits.tasks.is_some(), "pids"),
    ];
    wanted
        .iter()
        .filter(|(_, set, ctl)| *set && !delegated.split_whitespace().any(|d| d == *ctl))
        .map(|(name, _, ctl)| format!("{name} limit not enforced: the `{ctl}` controller is not delegated to user@{uid}.service"))
        .collect()
}

impl<A, M, G> Daemon<A, M, G>
where
    A: Accounts + Send + Sync + 'static,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub fn new(town: Town, accounts: A, managers: M, acls: G) -> Self {
        let desk = Desk::new(managers, &town);
        let keeper = Keeper::new(acls, &town.state);
        Self {
            town: RwLock::new(Arc::new(town)),
            chat_health: Default::default(),
            last_turn: Default::default(),
            chats: Default::default(),
            accounts,
            desk,
            keeper,
            reloaded: Notify::new(),
            started: Instant::now(),
        }
    }

    pub fn town(&self) -> Arc<Town> {
        self.town.read().expect("lock").clone()
    }

    pub fn chat_health(&self, resident: &str, health: String) {
        self.chat_health.lock().expect("lock").insert(resident.to_string(), health);
    }

    /// Read the config again; on errors keep the current town and say why.
    pub fn reload(&self) -> Result<Arc<Town>, String> {
        let dir = self.town().dir.clone();
        let town = Arc::new(crate::config::load(&dir).map_err(|d| d.to_string())?);
        *self.town.write().expect("lock") = town.clone();
        self.reloaded.notify_waiters();
        tracing::info!(residents = town.residents.len(), "configuration reloaded from {}", dir.display());
        Ok(town)
    }

    fn record(&self, town: &Town, changes: &[Change]) {
        for c in changes {
            tracing::info!("device: {c:?}");
            if let Err(e) = crate::audit::append(&town.state, "device", c) {
                tracing::warn!("{e}");
            }
            self.notify(town, c);
        }
    }

    /// Tell a resident's rooms that a granted device appeared or went.
    fn notify(&self, town: &Town, change: &Change) {
        use crate::chat::Chat;
        let (resident, text) = match change {
            Change::Granted { devnode, resident, perm, .. } => {
                let p = if *perm == crate::config::Permission::Rw { "read-write" } else { "read-only" };
                (resident, format!("_Device {} is here and granted to {resident} ({p})._", devnode.display()))
            }
            Change::Gone { devnode, resident } => (resident, format!("_Device {} is gone._", devnode.display())),
            Change::Revoked { devnode, resident, .. } => (resident, format!("_Access to {} was revoked._", devnode.display())),
            Change::Refused { .. } => return,
        };
        let Some(chat) = self.chats.lock().expect("lock").get(resident.as_str()).cloned() else { return };
        let rooms: Vec<String> = town.resident(resident).map(|r| r.rooms.iter().filter(|x| x.starts_with('!')).cloned().collect()).unwrap_or_default();
        tokio::spawn(async move {
            for room in rooms {
                if let Err(e) = chat.send(&room, None, &text).await {
                    tracing::warn!("device notice to {room}: {e}");
                }
            }
        });
    }

    /// Hold the grants: reconcile what is present, then follow udev until the rules change.
    pub async fn watch_devices(&self, devices: &impl Devices) {
        loop {
            let town = self.town();
            let (subsystems, attrs) = interest(&town);
            let reloaded = self.reloaded.notified();
            let mut events = match devices.watch(&subsystems, &attrs) {
                Ok(rx) if !subsystems.is_empty() => Some(rx),
                Ok(_) => None,
                Err(e) => {
                    tracing::error!("{e}: device grants are not held until the next reload");
                    None
                }
            };
            let present = devices.present(&subsystems, &attrs).unwrap_or_else(|e| {
                tracing::error!("{e}");
                vec![]
            });
            match self.keeper.all(&town, &present, &crate::round::now_rfc3339()) {
                Ok(c) => self.record(&town, &c),
                Err(e) => tracing::error!("reconciling device grants: {e}"),
            }
            tokio::pin!(reloaded);
            loop {
                let ev = async {
                    match events.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = &mut reloaded => break,
                    ev = ev => {
                        let now = crate::round::now_rfc3339();
                        let r = match ev {
                            Some(DeviceEvent::Add(d)) => self.keeper.device(&town, &d, false, &now),
                            Some(DeviceEvent::Change(d)) => {
                                let r = self.keeper.device(&town, &d, true, &now);
                                let held = self.keeper.status().iter().filter(|s| Some(&s.devnode) == d.devnode.as_ref()).map(|s| s.holders.len()).sum::<usize>();
                                if r.is_ok() && held > 0 {
                                    let node = d.devnode.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
                                    tracing::info!("change event: re-applied {held} grant(s) on {node}");
                                }
                                r
                            }
                            Some(DeviceEvent::Remove(d)) => self.keeper.removed(&d),
                            None => break,
                        };
                        match r {
                            Ok(c) => self.record(&town, &c),
                            Err(e) => tracing::error!("device grant: {e}"),
                        }
                    }
                }
            }
        }
    }

    pub fn status(&self) -> StatusReport {
        let town = self.town();
        StatusReport {
            town: town.name.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
            round: crate::round::RoundState::new(&town.state).round(),
            residents: town
                .residents
                .iter()
                .map(|r| ResidentStatus {
                    name: r.name.clone(),
                    uid: r.uid,
                    account: matches!(self.accounts.by_uid(r.uid), Ok(Some(a)) if a.name == r.name),
                    unenforced: unenforced(r.uid, &r.limits),
                    chat: self.chat_health.lock().expect("lock").get(&r.name).cloned(),
                })
                .collect(),
            turns: self.desk.running(),
        }
    }

    /// Answer on the control socket until SIGTERM or SIGINT.
    pub async fn run(self) -> anyhow::Result<()> {
        let daemon = Arc::new(self);
        let socket = Town::control_socket();
        let server = tokio::spawn({
            let daemon = daemon.clone();
            async move { control::serve(socket, daemon).await }
        });
        // Ready once the socket is bound: `systemctl start` returns when status can answer.
        while !socket.exists() && !server.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        let town = daemon.town();
        tracing::info!(town = %town.name, residents = town.residents.len(), "townhall is serving on {}", socket.display());
        // A resident whose Matrix password is not deployed has no bot (yet): say so.
        for r in &town.residents {
            if r.matrix.password_file.exists() {
                tokio::spawn(crate::chat::bot::run(daemon.clone(), r.name.clone()));
            } else {
                tracing::warn!(resident = %r.name, "no Matrix bot: {} is missing", r.matrix.password_file.display());
                daemon.chat_health(&r.name, format!("no bot: {} is missing", r.matrix.password_file.display()));
            }
        }
        let watcher = tokio::spawn({
            let daemon = daemon.clone();
            async move { daemon.watch_devices(&crate::grant::Udev).await }
        });

        use tokio::signal::unix::{SignalKind, signal};
        let (mut term, mut hup) = (signal(SignalKind::terminate())?, signal(SignalKind::hangup())?);
        let mut server = server;
        loop {
            tokio::select! {
                r = &mut server => { r??; break; }
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
                _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: stopping"); break; }
                _ = hup.recv() => {
                    if let Err(e) = daemon.reload() {
                        tracing::error!("reload refused, keeping the running configuration:\n{e}");
                    }
                }
            }
        }
        watcher.abort();
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        let _ = daemon.desk.stop(None).await;
        let _ = std::fs::remove_file(socket);
        Ok(())
    }
}

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
            Request::StopTurns => match self.desk.stop(None).await {
                Ok(turns) => Response::Stopped { turns },
                Err(e) => error(&e),
            },
            Request::Stop { resident } => match self.desk.stop(Some(&resident)).await {
                Ok(turns) => Response::Stopped { turns },
                Err(e) => error(&e),
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
        self.desk.stop(Some(resident)).await.unwrap_or(0)
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
        format!(
            "**{resident}** — round {round}, supervisor up {} s\n- turn: {}\n- processes: {procs}, memory {:.1} MiB, CPU time {:.1} s\n- chat: {chat}",
            self.started.elapsed().as_secs(),
            if turns.is_empty() { "idle".into() } else { turns.join("; ") },
            memory as f64 / (1 << 20) as f64,
            cpu_ms as f64 / 1000.0,
        )
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
        tokio::task::spawn_blocking(move || {
            let seams = crate::round::host_seams();
            let plan = crate::round::plan_reset(&town, seams.subvolumes, seams.files, seams.accounts)
                .map_err(|r| r.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("\n"))?;
            let report = crate::round::run_reset(&plan, &seams, &town.state, &by, &mut |m| tracing::info!("reset: {m}")).map_err(|e| e.to_string())?;
            Ok(format!("**Round {} begins** (reset in {} ms).", report.round, report.duration_ms))
        })
        .await
        .map_err(|e| e.to_string())?
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resident::{Account, FakeAccounts};
    use crate::units::FakeUserManagers;

    #[test]
    fn status_reports_which_accounts_exist() {
        let ada = Account { name: "ada".into(), uid: 1100, gid: 1100, home: "/agents/ada".into(), shell: "/bin/bash".into() };
        let mut town = crate::testing::demo_town();
        town.state = std::env::temp_dir();
        let d = Daemon::new(town, FakeAccounts::with(vec![ada]), FakeUserManagers::default(), crate::grant::FakeAcls::default());
        let s = d.status();
        assert_eq!(s.town, "demo");
        let accounts: Vec<_> = s.residents.iter().map(|r| (r.name.as_str(), r.account)).collect();
        assert_eq!(accounts, [("ada", true), ("vox", false)]);
    }
}
