//! A reset asked from chat (`!reset`, by a mayor): the same procedure as `townhall reset`,
//! told to the journal. In a resident's room it ends that resident's round alone; `!reset
//! all` ends the town's.

use super::Daemon;
use super::declined::Declined;
use crate::grant::Acls;
use crate::hall::ResetSummary;
use crate::machine::Machine;
use crate::units::UserManagers;

/// The daemon's reset goes to the journal: the mayor gets the summary in the room.
pub(super) struct Journal;

impl crate::reset::Witness for Journal {
    fn progress(&mut self, line: &str) {
        tracing::info!("reset: {line}");
    }
    fn warning(&mut self, line: &str) {
        tracing::warn!("reset: {line}");
    }
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// End the round of `resident` alone, or the town's when None: stop its turns (every
    /// turn), level and rebuild; Err says why nothing changed.
    pub(super) async fn reset(
        &self,
        by: &str,
        resident: Option<String>,
    ) -> Result<ResetSummary, Declined> {
        let town = self.town();
        let _ = self.desk.stop(resident.as_deref()).await;
        let only: Vec<String> = resident.iter().cloned().collect();
        let by = by.to_string();
        let machine = self.machine.clone();
        let r = tokio::task::spawn_blocking(move || {
            crate::reset::end_round(&town, &only, &*machine, &by, &mut Journal)
        })
        .await??;
        self.round_began();
        Ok(ResetSummary {
            round: match &resident {
                Some(name) => r.rounds.get(name).copied().unwrap_or(r.round),
                None => r.round,
            },
            duration_ms: r.duration_ms,
            warnings: r.warnings().iter().map(ToString::to_string).collect(),
            resident,
        })
    }
}
