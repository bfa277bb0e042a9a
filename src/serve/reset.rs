//! A reset asked from chat (`!reset`, by a mayor): the same steps as `townhall reset`.

use super::Daemon;
use crate::grant::Acls;
use crate::hall::ResetSummary;
use crate::resident::Accounts;
use crate::units::UserManagers;

impl<A, M, G> Daemon<A, M, G>
where
    A: Accounts + Send + Sync + 'static,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// End the round: stop every turn, level and rebuild; Err says why nothing changed.
    pub(super) async fn reset(&self, by: &str) -> Result<ResetSummary, String> {
        let _ = self.desk.stop(None).await;
        let town = self.town();
        let by = by.to_string();
        let r = tokio::task::spawn_blocking(move || {
            let seams = crate::round::host_seams();
            let _lock = crate::round::lock(&town.state).map_err(|e| e.to_string())?;
            for line in crate::round::recover(&town, seams.subvolumes, seams.files)
                .map_err(|e| e.to_string())?
            {
                tracing::warn!("reset: {line}");
            }
            let mut plan =
                crate::round::plan_reset(&town, seams.subvolumes, seams.files, seams.accounts)
                    .map_err(|r| {
                        r.iter()
                            .map(|r| r.to_string())
                            .collect::<Vec<_>>()
                            .join("\n")
                    })?;
            plan.shared = crate::level::shared_dirs(&town);
            for p in crate::sign::sign_plan(&mut plan, &town) {
                tracing::warn!("reset: {p}");
            }
            let report = crate::round::run_reset(&plan, &seams, &town.state, &by, &mut |m| {
                tracing::info!("reset: {m}")
            })
            .map_err(|e| e.to_string())?;
            for p in crate::remote::after_reset(&town) {
                tracing::warn!("reset: {p}");
            }
            Ok(ResetSummary {
                round: report.round,
                duration_ms: report.duration_ms,
                warnings: report.warnings(),
            })
        })
        .await
        .map_err(|e| e.to_string())?;
        if r.is_ok() {
            self.round_began();
        }
        r
    }
}
