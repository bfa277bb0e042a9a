//! `townhall serve`: the daemon. Holds the town, runs turns, answers on the control socket.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use crate::config::Town;
use crate::control::{self, Request, ResidentStatus, Response, StatusReport};
use crate::resident::Accounts;
use crate::turn::Desk;
use crate::units::UserManagers;

pub struct Daemon<A, M> {
    town: Town,
    accounts: A,
    desk: Desk<M>,
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

impl<A: Accounts + Send + Sync + 'static, M: UserManagers + Send + Sync + 'static> Daemon<A, M> {
    pub fn new(town: Town, accounts: A, managers: M) -> Self {
        let desk = Desk::new(managers, &town);
        Self { town, accounts, desk, started: Instant::now() }
    }

    pub fn status(&self) -> StatusReport {
        StatusReport {
            town: self.town.name.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
            round: crate::round::RoundState::new(&self.town.state).round(),
            residents: self
                .town
                .residents
                .iter()
                .map(|r| ResidentStatus {
                    name: r.name.clone(),
                    uid: r.uid,
                    account: matches!(self.accounts.by_uid(r.uid), Ok(Some(a)) if a.name == r.name),
                    unenforced: unenforced(r.uid, &r.limits),
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
        tracing::info!(town = %daemon.town.name, residents = daemon.town.residents.len(), "townhall is serving on {}", socket.display());

        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = server => { r??; }
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        let _ = daemon.desk.stop(None).await;
        let _ = std::fs::remove_file(socket);
        Ok(())
    }
}

impl<A: Accounts + Send + Sync + 'static, M: UserManagers + Send + Sync + 'static> control::Handler for Daemon<A, M> {
    async fn handle(&self, req: Request, out: mpsc::Sender<Response>) {
        let error = |e: &dyn std::fmt::Display| Response::Error { message: e.to_string() };
        let answer = match req {
            Request::Status => Response::Status(self.status()),
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
                let turn = self.desk.turn(&self.town, &resident, &conversation, &prompt, fresh, tx);
                let (result, ()) = tokio::join!(turn, forward);
                match result {
                    Ok(outcome) => {
                        tracing::info!(%resident, result = %outcome.result, status = outcome.status, "turn ended");
                        Response::TurnDone(outcome)
                    }
                    Err(e) => error(&e),
                }
            }
        };
        let _ = out.send(answer).await;
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
        let d = Daemon::new(town, FakeAccounts::with(vec![ada]), FakeUserManagers::default());
        let s = d.status();
        assert_eq!(s.town, "demo");
        let accounts: Vec<_> = s.residents.iter().map(|r| (r.name.as_str(), r.account)).collect();
        assert_eq!(accounts, [("ada", true), ("vox", false)]);
    }
}
