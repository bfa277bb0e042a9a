//! `townhall serve`: the daemon. Holds the town and answers on the control socket.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Town;
use crate::control::{self, Request, ResidentStatus, Response, StatusReport};
use crate::resident::Accounts;

pub struct Daemon<A> {
    town: Town,
    accounts: A,
    started: Instant,
}

impl<A: Accounts + Send + Sync + 'static> Daemon<A> {
    pub fn new(town: Town, accounts: A) -> Self {
        Self { town, accounts, started: Instant::now() }
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
                })
                .collect(),
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
        let _ = std::fs::remove_file(socket);
        Ok(())
    }
}

impl<A: Accounts + Send + Sync + 'static> control::Handler for Daemon<A> {
    async fn handle(&self, req: Request) -> Response {
        match req {
            Request::Status => Response::Status(self.status()),
            // The daemon runs no turns yet; when it does, they are stopped here.
            Request::StopTurns => Response::Stopped { turns: 0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resident::{Account, FakeAccounts};

    #[test]
    fn status_reports_which_accounts_exist() {
        let ada = Account { name: "ada".into(), uid: 1100, gid: 1100, home: "/agents/ada".into(), shell: "/bin/bash".into() };
        let d = Daemon::new(crate::testing::demo_town(), FakeAccounts::with(vec![ada]));
        let s = d.status();
        assert_eq!(s.town, "demo");
        let accounts: Vec<_> = s.residents.iter().map(|r| (r.name.as_str(), r.account)).collect();
        assert_eq!(accounts, [("ada", true), ("vox", false)]);
    }
}
