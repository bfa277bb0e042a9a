//! A host a resident's `[network] allow` does not name: the gate asks root, root asks the
//! mayors in the room of the resident's running turn ("ada wants registry.npmjs.org:443"),
//! and a yes opens that host for the rest of the round only.

use townhall_wire::ledger::GateSaid;

use super::Daemon;
use super::approvals::Question;
use crate::grant::Acls;
use crate::machine::Machine;
use crate::units::UserManagers;

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
        let round = match crate::round::RoundState::new(&town.state).round_of(&r.name) {
            Ok(round) => round,
            Err(e) => return refused(e.to_string()),
        };
        let wanted = townhall_config::Reach {
            host: host.to_string(),
            port,
        }
        .to_string();
        if self.network.holds(&r.name, round, &wanted) {
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
            self.network.refused(&r.name, round, &wanted);
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
            round: false,
        };
        let a = self.ask_mayor(r, question, std::future::pending()).await;
        if !a.allow {
            self.network.refused(&r.name, round, &wanted);
            return refused(format!("the mayors were asked: {}", a.reason));
        }
        self.network.open(&r.name, round, &wanted);
        GateSaid::Admitted
    }
}
