//! `town`: what a resident may know of the town, as JSON an agent reads: the round, the
//! devices it holds or may ask for, its branches on the town remote, its budget left.

use serde::Serialize;

use super::super::Daemon;
use crate::grant::Acls;
use crate::machine::Machine;
use crate::tools::Answer;
use crate::units::UserManagers;

#[derive(Serialize)]
struct View {
    resident: String,
    round: u64,
    devices: Vec<Device>,
    branches: Vec<crate::hall::RepoBranches>,
    spent: Spent,
}

#[derive(Serialize)]
struct Device {
    device: String,
    devnode: String,
    /// "yours (rw)", "yours (rw) until …" for a lease, or "ask with request_device".
    status: String,
}

#[derive(Serialize)]
struct Spent {
    usd: f64,
    tokens: u64,
    budget_usd: Option<f64>,
    budget_tokens: Option<u64>,
    left_usd: Option<f64>,
    left_tokens: Option<u64>,
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) async fn town_view(&self, r: &crate::config::Resident) -> Answer {
        let town = self.town();
        let round = match crate::round::RoundState::new(&town.state).round_of(&r.name) {
            Ok(n) => n,
            Err(e) => return Answer::refused(format!("the round is not known: {e}")),
        };
        let devices = self
            .keeper
            .status()
            .into_iter()
            .filter(|d| d.refused.is_none())
            .map(|d| {
                let held = d.holders.iter().find(|h| h.resident == r.name);
                let status = match held {
                    Some(h) => match &h.until {
                        Some(until) => format!("yours ({:?}) until {until}", h.perm),
                        None => format!("yours ({:?})", h.perm),
                    },
                    None => "ask with request_device".into(),
                };
                Device {
                    device: d.sysname,
                    devnode: d.devnode.display().to_string(),
                    status,
                }
            })
            .collect();
        let (t, name) = (town.clone(), r.name.clone());
        let branches = tokio::task::spawn_blocking(move || crate::remote::branches(&t, &name))
            .await
            .unwrap_or_default();
        let total = self.desk.spent(round, &r.name).total;
        let view = View {
            resident: r.name.clone(),
            round,
            devices,
            branches,
            spent: Spent {
                usd: total.cost_usd,
                tokens: total.tokens(),
                budget_usd: r.budget.usd,
                budget_tokens: r.budget.tokens,
                left_usd: r.budget.usd.map(|b| (b - total.cost_usd).max(0.0)),
                left_tokens: r.budget.tokens.map(|b| b.saturating_sub(total.tokens())),
            },
        };
        Answer::ok(serde_json::to_string_pretty(&view).expect("plain data"))
    }
}
