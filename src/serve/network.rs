//! A resident's network in the room: packets the kernel dropped are told (at most once a
//! minute per resident, with the turn that was running), and `!network` shows what each
//! resident may reach and what was refused this round.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::Daemon;
use crate::egress::{Dropped, Tell, Telling};
use crate::grant::Acls;
use crate::hall::{NetworkReport, Notice};
use crate::machine::Machine;
use crate::units::UserManagers;

/// Drops heard but not yet recorded; more are let go (the rule's limit bounds the flow).
const HEARD: usize = 256;

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// Hear the kernel's drops for as long as the daemon runs.
    pub(super) async fn hear_drops(self: Arc<Self>) {
        let (to, mut heard) = mpsc::channel(HEARD);
        if let Err(e) = crate::egress::listen(to) {
            tracing::error!("{e}: packets the egress rules drop go unheard");
            return;
        }
        while let Some(d) = heard.recv().await {
            self.dropped(d);
        }
    }

    /// Record one drop, and tell the resident's rooms now or a minute after the last time.
    pub(super) fn dropped(self: &Arc<Self>, d: Dropped) {
        let town = self.town();
        let Some(r) = town.residents.iter().find(|r| r.uid == d.uid) else {
            return;
        };
        let Ok(round) = crate::round::RoundState::new(&town.state).round_of(&r.name) else {
            return;
        };
        let to = d.packet.to_string();
        tracing::info!(resident = %r.name, %to, "the egress rules dropped a packet");
        let turn = self.desk.turn_at(&r.name, d.heard);
        match self
            .network
            .dropped(&r.name, round, &to, turn, Instant::now())
        {
            Telling::Tell(tell) => self.tell_dropped(&r.name, tell),
            Telling::Later(after) => {
                let (daemon, name) = (self.clone(), r.name.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    if let Some(tell) = daemon.network.due(&name, round, Instant::now()) {
                        daemon.tell_dropped(&name, tell);
                    }
                });
            }
            Telling::Kept => {}
        }
    }

    fn tell_dropped(&self, resident: &str, tell: Tell) {
        let notice = Notice::Dropped {
            to: tell.to,
            more: tell.more,
            turn: tell.turn,
        };
        self.tell(resident, notice);
    }

    /// `!network`: the resident's own, and every resident's for a mayor.
    pub(super) fn network_report(&self, resident: &str, sender: &str) -> Vec<NetworkReport> {
        let town = self.town();
        let rounds = crate::round::RoundState::new(&town.state);
        let mayor = town.matrix.mayors.iter().any(|m| m == sender);
        let gated = !town.gate.apis.is_empty();
        town.residents
            .iter()
            .filter(|r| mayor || r.name == resident)
            .map(|r| {
                let round = rounds.round_of(&r.name).unwrap_or_default();
                let (opened, refused) = self.network.report(&r.name, round);
                NetworkReport {
                    resident: r.name.clone(),
                    round,
                    gated,
                    allowed: r.network.allow.iter().map(ToString::to_string).collect(),
                    opened,
                    refused,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::Packet;
    use crate::grant::FakeAcls;
    use crate::units::FakeUserManagers;

    const MAYOR: &str = "@mayor:town.test";

    fn drop_of(uid: u32, port: u16) -> Dropped {
        Dropped {
            uid,
            packet: Packet {
                to: "203.0.113.2".parse().unwrap(),
                port: Some(port),
                protocol: 6,
            },
            heard: Instant::now(),
        }
    }

    #[tokio::test]
    async fn a_drop_is_told_in_its_residents_rooms_and_counted_for_network() {
        let state = tempfile::tempdir().unwrap();
        let mut town = crate::testing::demo_town();
        town.state = state.path().into();
        let ada = town.resident("ada").unwrap().uid;
        let d = Arc::new(
            Daemon::new(
                town,
                crate::testing::fake_machine(vec![]),
                FakeUserManagers::default(),
                FakeAcls::default(),
            )
            .unwrap(),
        );
        d.dropped(drop_of(ada, 80));
        d.dropped(drop_of(ada, 80));
        d.dropped(drop_of(4242, 80)); // not a resident's: nothing
        let told = d.teller.pending_for("ada");
        assert_eq!(
            told,
            vec![Notice::Dropped {
                to: "203.0.113.2 80/tcp".into(),
                more: 0,
                turn: None,
            }],
            "told once, at once"
        );
        assert!(d.teller.pending_for("vox").is_empty());

        let own = d.network_report("ada", "@someone:town.test");
        assert_eq!(own.len(), 1, "anyone else sees the room's resident only");
        assert_eq!(own[0].refused[0].times, 2);
        let all = d.network_report("ada", MAYOR);
        let names: Vec<&str> = all.iter().map(|r| r.resident.as_str()).collect();
        assert_eq!(names, ["ada", "vox"], "a mayor sees every resident");
    }
}
