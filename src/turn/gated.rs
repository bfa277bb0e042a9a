//! Spending as the gate counts it: for a resident whose model calls go through the gate
//! (`[agent] api`), the ledger takes the upstream's own figures, read by the gate from each
//! answer, and never what the resident's CLI prints. The gate asks before each call whether
//! the round's budget is spent, so a process outside any turn cannot spend past it either.

use crate::config::{Resident, Town};
use crate::units::UserManagers;

use super::desk::{Desk, TurnError};
use super::ledger::Spent;

/// Where a call counts when no single turn of the resident's was running.
pub const OUTSIDE_TURNS: &str = "(outside turns)";

impl<M: UserManagers + Sync> Desk<M> {
    /// Whether `resident` may still spend this round.
    pub fn admit(&self, town: &Town, resident: &Resident) -> Result<(), TurnError> {
        let round = crate::round::RoundState::new(&town.state).round_of(&resident.name)?;
        let spent = self.ledger.round(round, &resident.name).total;
        match super::opening::over_budget(&resident.budget, &spent) {
            Some((spent, budget)) => Err(TurnError::OverBudget {
                resident: resident.name.clone(),
                spent,
                budget,
            }),
            None => Ok(()),
        }
    }

    /// Record what one call used: for the resident's running conversation when one alone
    /// runs, apart otherwise.
    pub fn gate_used(&self, town: &Town, resident: &str, used: &Spent) -> Result<(), TurnError> {
        let round = crate::round::RoundState::new(&town.state).round_of(resident)?;
        let running: Vec<_> = self
            .running()
            .into_iter()
            .filter(|t| t.resident == resident)
            .collect();
        let conversation = match running.as_slice() {
            [one] => one.conversation.as_str(),
            _ => OUTSIDE_TURNS,
        };
        self.ledger.record(round, resident, conversation, used)?;
        Ok(())
    }

    /// What `conversation` has spent this round so far (for a turn's figure: after − before).
    pub(super) fn conversation_spent(
        &self,
        round: u64,
        resident: &str,
        conversation: &str,
    ) -> Option<Spent> {
        self.ledger
            .round(round, resident)
            .conversations
            .get(conversation)
            .copied()
    }
}
