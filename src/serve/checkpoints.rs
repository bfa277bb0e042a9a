//! Checkpoints from chat: `!checkpoint [label]` and `!rollback N` (a mayor's, the rollback
//! confirmed like a reset) and `!checkpoints`. The mechanism is `round::checkpoint` and
//! `reset::rollback`; this runs them off the async threads and words the list.

use std::time::SystemTime;

use super::Daemon;
use super::declined::Declined;
use crate::grant::Acls;
use crate::hall::{CheckpointInfo, ResetSummary};
use crate::machine::Machine;
use crate::units::UserManagers;

fn age_secs(taken: &str) -> u64 {
    humantime::parse_rfc3339(taken)
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or(0, |d| d.as_secs())
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// Take a checkpoint of `resident`'s home; its checkpoints after it.
    pub(super) async fn checkpoint(
        &self,
        resident: &str,
        by: &str,
        label: &str,
    ) -> Result<Vec<CheckpointInfo>, Declined> {
        let (town, machine) = (self.town(), self.machine.clone());
        let (name, label) = (resident.to_string(), label.to_string());
        let taken = tokio::task::spawn_blocking(move || {
            crate::round::checkpoint::take(&town, machine.round().subvolumes, &name, &label)
        })
        .await??;
        tracing::info!(resident, by, n = taken.n, "checkpoint taken");
        Ok(self.checkpoints(resident))
    }

    /// `resident`'s checkpoints, oldest first, with what each holds.
    pub(super) fn checkpoints(&self, resident: &str) -> Vec<CheckpointInfo> {
        crate::round::checkpoint::list(&self.town(), resident)
            .into_iter()
            .map(|c| CheckpointInfo {
                n: c.n,
                age_secs: age_secs(&c.taken),
                label: c.label,
                bytes: c.bytes,
                entries: c.entries,
                whole: c.whole,
            })
            .collect()
    }

    /// Roll `resident`'s home back to checkpoint `n`: its turns end first.
    pub(super) async fn rollback(
        &self,
        resident: &str,
        by: &str,
        n: u64,
    ) -> Result<ResetSummary, Declined> {
        let _ = self.desk.stop(Some(resident)).await;
        let (town, machine) = (self.town(), self.machine.clone());
        let (name, by) = (resident.to_string(), by.to_string());
        let r = tokio::task::spawn_blocking(move || {
            crate::reset::rollback(&town, &name, n, &*machine, &by, &mut super::reset::Journal)
        })
        .await??;
        self.round_began();
        Ok(ResetSummary {
            round: r.rounds.get(resident).copied().unwrap_or(r.round),
            duration_ms: r.duration_ms,
            warnings: r.warnings().iter().map(ToString::to_string).collect(),
            resident: Some(resident.to_string()),
        })
    }
}
