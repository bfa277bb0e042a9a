//! The ledger socket (`townhall_wire::ledger`): the gate asks before each of a resident's
//! model calls whether its budget allows it, and says what each call used; root records it
//! in its ledger, where budgets, `!cost` and the answers' footers read it. Only the gate's
//! user may ask: a resident cannot report spending, true or false.

use std::sync::Arc;

use tokio::sync::mpsc;
use townhall_wire::ledger::{self, GateAsk, GateSaid};
use townhall_wire::lines::{self, Rules};

use super::Daemon;
use crate::config::Town;
use crate::grant::Acls;
use crate::hall::Notice;
use crate::machine::Machine;
use crate::turn::{Spent, TurnError};
use crate::units::UserManagers;

/// The gate asks once per call, from as many connections as calls are in flight.
const LEDGER_PER_GATE: usize = 256;

fn parse(line: &str) -> serde_json::Result<GateAsk> {
    serde_json::from_str(line)
}

/// The gate's uid, as this host names it (none where the gate is not installed).
fn gate_uid() -> Option<u32> {
    nix::unistd::User::from_name(ledger::GATE_USER)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) async fn serve_ledger(self: Arc<Self>, listener: tokio::net::UnixListener) {
        let gate = gate_uid();
        let permitted = move |uid: u32| uid == 0 || Some(uid) == gate;
        let rules = Rules {
            name: "the ledger socket",
            permit: Box::new(permitted),
            per_uid: Box::new(move |uid| if permitted(uid) { LEDGER_PER_GATE } else { 2 }),
            refused: "only the townhall-gate user may use this socket",
            max_line: ledger::MAX_LINE,
            // The gate half-closes once it has asked.
            watch_peer: false,
        };
        lines::serve(
            listener,
            Arc::new(rules),
            parse,
            move |ask: GateAsk, _uid, out: mpsc::Sender<GateSaid>| {
                let daemon = self.clone();
                async move {
                    let _ = out.send(daemon.gate_said(ask).await).await;
                }
            },
        )
        .await
    }

    /// What the gate's question or tally gets: `reach` may wait for a mayor, the others
    /// are answered at once.
    async fn gate_said(&self, ask: GateAsk) -> GateSaid {
        let town = self.town();
        let uid = match &ask {
            GateAsk::Admit { uid } | GateAsk::Used { uid, .. } | GateAsk::Reach { uid, .. } => *uid,
        };
        let Some(r) = town.residents.iter().find(|r| r.uid == uid) else {
            return GateSaid::Refused {
                why: format!("uid {uid} is not a resident"),
            };
        };
        let done = match ask {
            GateAsk::Reach { host, port, .. } => return self.reach(r, &host, port).await,
            GateAsk::Admit { .. } => {
                let admitted = self.desk.admit(&town, r);
                if let Err(TurnError::OverBudget { spent, budget, .. }) = &admitted {
                    self.budget_spent(&town, &r.name, spent, budget);
                }
                admitted.map(|()| GateSaid::Admitted)
            }
            GateAsk::Used {
                model,
                input_tokens,
                output_tokens,
                ..
            } => {
                let used = Spent {
                    turns: 0,
                    input_tokens,
                    output_tokens,
                    cost_usd: town
                        .gate
                        .cost(model.as_deref(), input_tokens, output_tokens),
                };
                tracing::info!(resident = %r.name, model = model.as_deref().unwrap_or("?"), input_tokens, output_tokens, "the gate counted a model call");
                self.desk
                    .gate_used(&town, &r.name, &used)
                    .map(|()| GateSaid::Recorded)
            }
        };
        done.unwrap_or_else(|e| GateSaid::Refused { why: e.to_string() })
    }

    /// Say in the resident's rooms, once a round, that the gate refuses its calls: a CLI
    /// may swallow the refusal, the mayor should not have to guess.
    fn budget_spent(&self, town: &Town, resident: &str, spent: &str, budget: &str) {
        let Ok(round) = crate::round::RoundState::new(&town.state).round_of(resident) else {
            return;
        };
        let mut told = self.told_spent.lock().expect("lock");
        if told.get(resident) == Some(&round) {
            return;
        }
        told.insert(resident.to_string(), round);
        drop(told);
        let notice = Notice::BudgetSpent {
            spent: spent.to_string(),
            budget: budget.to_string(),
        };
        self.tell(resident, notice);
    }
}
