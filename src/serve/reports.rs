//! What the daemon reports of a resident in chat: `!status` (its round, turns, processes,
//! memory, CPU, chat health, last reset, spending and budget) and `!cost`.

use super::Daemon;
use super::declined::Declined;
use crate::grant::Acls;
use crate::hall::{self, ResidentReport};
use crate::machine::Machine;
use crate::units::UserManagers;

/// Memory and CPU time of a uid's processes, as sysinfo sees them.
fn usage(uid: u32) -> (usize, u64, u64) {
    use sysinfo::{ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};
    let mut sys = System::new();
    let what = ProcessRefreshKind::nothing()
        .with_memory()
        .with_cpu()
        .with_user(UpdateKind::Always);
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, what);
    let mine: Vec<_> = sys
        .processes()
        .values()
        .filter(|p| p.user_id().is_some_and(|u| **u == uid))
        .collect();
    let memory = mine.iter().map(|p| p.memory()).sum();
    let cpu_ms = mine.iter().map(|p| p.accumulated_cpu_time()).sum();
    (mine.len(), memory, cpu_ms)
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) fn report(&self, resident: &str) -> Result<ResidentReport, Declined> {
        let town = self.town();
        let Some(r) = town.resident(resident) else {
            return Ok(ResidentReport::default());
        };
        let rounds = crate::round::RoundState::new(&town.state);
        let round = rounds.round_of(resident)?;
        let town_round = rounds.round()?;
        let (processes, memory_bytes, cpu_ms) = usage(r.uid);
        Ok(ResidentReport {
            resident: resident.into(),
            round,
            uptime_secs: self.started.elapsed().as_secs(),
            turns: self
                .desk
                .running()
                .into_iter()
                .filter(|t| t.resident == resident)
                .map(Into::into)
                .collect(),
            processes,
            memory_bytes,
            cpu_ms,
            chat: self
                .chat_health
                .lock()
                .expect("lock")
                .get(resident)
                .cloned()
                .unwrap_or_default(),
            last_reset: rounds
                .last_of(resident)
                .unwrap_or_default()
                .troubles_of(resident),
            waiting: self.conversations.waiting(resident),
            spent: self.desk.spent(round, resident).total.into(),
            budget_usd: r.budget.usd,
            budget_tokens: r.budget.tokens,
            town_round,
        })
    }

    pub(super) fn cost(
        &self,
        resident: &str,
        conversation: &str,
    ) -> Result<hall::CostReport, Declined> {
        let town = self.town();
        let Some(r) = town.resident(resident) else {
            return Ok(hall::CostReport::default());
        };
        let round = crate::round::RoundState::new(&town.state).round_of(resident)?;
        let now = self.desk.spent(round, resident);
        Ok(hall::CostReport {
            resident: resident.into(),
            round,
            spent: now.total.into(),
            conversation: now
                .conversations
                .get(conversation)
                .copied()
                .unwrap_or_default()
                .into(),
            rounds: self
                .desk
                .spent_by_round(resident)
                .into_iter()
                .filter(|(n, _)| *n != round)
                .map(|(n, s)| (n, s.into()))
                .collect(),
            budget_usd: r.budget.usd,
            budget_tokens: r.budget.tokens,
        })
    }
}
