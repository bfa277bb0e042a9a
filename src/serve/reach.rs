//! A host a resident's `[network] allow` does not name: the gate asks root, root asks the
//! mayors in the room of the resident's running turn ("ada wants registry.npmjs.org:443"),
//! and a yes opens that host for the rest of the round only.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use townhall_wire::ledger::GateSaid;

use super::Daemon;
use super::approvals::Question;
use crate::grant::Acls;
use crate::machine::Machine;
use crate::units::UserManagers;

/// The hosts mayors opened, per resident, with the round they hold for.
#[derive(Debug, Default)]
pub struct Opened(Mutex<HashMap<String, (u64, HashSet<String>)>>);

impl Opened {
    fn holds(&self, resident: &str, round: u64, host: &str) -> bool {
        let opened = self.0.lock().expect("lock");
        opened
            .get(resident)
            .is_some_and(|(r, hosts)| *r == round && hosts.contains(host))
    }

    fn open(&self, resident: &str, round: u64, host: &str) {
        let mut opened = self.0.lock().expect("lock");
        let entry = opened
            .entry(resident.to_string())
            .or_insert_with(|| (round, HashSet::new()));
        if entry.0 != round {
            *entry = (round, HashSet::new());
        }
        entry.1.insert(host.to_string());
    }
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) async fn reach(
        &self,
        r: &crate::config::Resident,
        host: &str,
        port: u16,
    ) -> GateSaid {
        let refused = |why: String| GateSaid::Refused { why };
        let town = self.town();
        let round = match crate::round::RoundState::new(&town.state).round() {
            Ok(round) => round,
            Err(e) => return refused(e.to_string()),
        };
        let wanted = townhall_config::Reach {
            host: host.to_string(),
            port,
        }
        .to_string();
        if self.opened.holds(&r.name, round, &wanted) {
            return GateSaid::Admitted;
        }
        // The newest turn of the resident's that runs from a room.
        let asked_in = self
            .desk
            .running()
            .into_iter()
            .filter(|t| t.resident == r.name)
            .filter_map(|t| Some((self.approvals.room_of(&r.name, &t.conversation)?, t)))
            .min_by_key(|(_, t)| t.running_secs);
        let Some((reply, turn)) = asked_in else {
            return refused(format!(
                "no turn of {}'s runs from a room to ask a mayor in",
                r.name
            ));
        };
        let question = Question {
            turn: &turn.unit,
            reply,
            tool: townhall_wire::ledger::NETWORK_TOOL,
            subject: wanted.clone(),
            rule: "[network] allow".into(),
        };
        let a = self.ask_mayor(r, question, std::future::pending()).await;
        if !a.allow {
            return refused(format!("the mayors were asked: {}", a.reason));
        }
        self.opened.open(&r.name, round, &wanted);
        GateSaid::Admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yes_holds_for_its_round_and_its_host_only() {
        let o = Opened::default();
        o.open("ada", 3, "registry.npmjs.org:443");
        assert!(o.holds("ada", 3, "registry.npmjs.org:443"));
        assert!(!o.holds("ada", 3, "github.com:443"));
        assert!(!o.holds("vox", 3, "registry.npmjs.org:443"));
        assert!(!o.holds("ada", 4, "registry.npmjs.org:443"));
        o.open("ada", 4, "github.com:443");
        assert!(
            !o.holds("ada", 4, "registry.npmjs.org:443"),
            "a new round forgets"
        );
    }
}
