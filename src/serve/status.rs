//! `townhall status` from the daemon: the town, each resident (account, limits the host
//! cannot enforce, chat health, what the last reset could not do, spending), the running
//! turns, the host's settings and the retired rounds still there.

use super::Daemon;
use crate::control::{ResidentStatus, StatusReport};
use crate::grant::Acls;
use crate::machine::Machine;
use crate::units::UserManagers;

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// Fails when the round counter cannot be read (it names the file).
    pub fn status(&self) -> Result<StatusReport, crate::round::RoundFileError> {
        let town = self.town();
        let rounds = crate::round::RoundState::new(&town.state);
        let round = rounds.round()?;
        let degraded = |name: &str| rounds.last_of(name).unwrap_or_default().troubles_of(name);
        let round_of = |name: &str| rounds.round_of(name).unwrap_or(round);
        Ok(StatusReport {
            town: town.name.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
            round,
            residents: town
                .residents
                .iter()
                .map(|r| ResidentStatus {
                    name: r.name.clone(),
                    uid: r.uid,
                    account: matches!(crate::resident::Accounts::by_uid(self.machine.round().accounts, r.uid), Ok(Some(a)) if a.name == r.name),
                    unenforced: crate::level::unenforced(self.machine.settings(), r.uid, &r.limits),
                    chat: self.chat_health.lock().expect("lock").get(&r.name).cloned(),
                    degraded: degraded(&r.name),
                    spent: self.desk.spent(round_of(&r.name), &r.name).total,
                    round: round_of(&r.name),
                })
                .collect(),
            turns: self.desk.running(),
            host: crate::level::check_host(self.machine.settings()),
            retired: self.retirement.status(&town),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resident::Account;
    use crate::units::FakeUserManagers;

    #[test]
    fn status_reports_which_accounts_exist() {
        let ada = Account {
            name: "ada".into(),
            uid: 1100,
            gid: 1100,
            home: "/agents/ada".into(),
            shell: "/bin/bash".into(),
        };
        let state = tempfile::tempdir().unwrap();
        let mut town = crate::testing::demo_town();
        town.state = state.path().into();
        let d = Daemon::new(
            town,
            crate::testing::fake_machine(vec![ada]),
            FakeUserManagers::default(),
            crate::grant::FakeAcls::default(),
        )
        .unwrap();
        let s = d.status().unwrap();
        assert_eq!(s.town, "demo");
        let accounts: Vec<_> = s
            .residents
            .iter()
            .map(|r| (r.name.as_str(), r.account))
            .collect();
        assert_eq!(accounts, [("ada", true), ("vox", false)]);
    }
}
