//! Ending turns: a mayor's `!stop` (the resident's turns, then its user manager), every
//! turn at a reset or shutdown, and turn units an earlier daemon left running.

use std::sync::atomic::Ordering;

use super::Desk;
use crate::config::Town;
use crate::os::OsError;
use crate::units::UserManagers;

impl<M: UserManagers + Sync> Desk<M> {
    /// Stop every running turn of `resident` (all residents when None).
    pub async fn stop(&self, resident: Option<&str>) -> Result<u32, OsError> {
        let targets: Vec<(u32, String)> = {
            let running = self.running.lock().expect("lock");
            running
                .iter()
                .filter(|r| resident.is_none_or(|n| r.resident == n))
                .map(|r| {
                    r.stopped.store(true, Ordering::SeqCst);
                    (r.uid, r.unit.clone())
                })
                .collect()
        };
        // All at once: one resident whose manager does not answer must not keep the others
        // running (or the daemon's stop past its unit's stop timeout).
        let stops = targets
            .iter()
            .map(|(uid, unit)| self.managers.stop(*uid, unit));
        let mut failed = None;
        for r in futures_util::future::join_all(stops).await {
            if let Err(e) = r {
                tracing::error!("{e}");
                failed = Some(e);
            }
        }
        match failed {
            Some(e) if resident.is_some() => Err(e),
            _ => Ok(targets.len() as u32),
        }
    }

    /// `!stop`: end the resident's running turns, then its user manager with everything a
    /// turn started there (`systemd-run --user` units, timers); the next turn starts a
    /// fresh manager. Its files stay.
    pub async fn stop_resident(&self, resident: &str, uid: u32) -> Result<u32, OsError> {
        let n = self.stop(Some(resident)).await.unwrap_or_else(|e| {
            tracing::warn!("{e}");
            0
        });
        // Let the stopped turns report their end first (a few seconds at most).
        for _ in 0..50 {
            if !self
                .running
                .lock()
                .expect("lock")
                .iter()
                .any(|r| r.resident == resident)
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.managers.end_manager(uid).await?;
        Ok(n)
    }

    /// Stop turn units a previous daemon left in the residents' managers. Chat may already
    /// have started turns of this daemon's (it serves before settling): those stay. A turn
    /// is in `running` before its unit starts, so a unit listed is either known or a stray.
    pub async fn stop_strays(&self, town: &Town) {
        for r in &town.residents {
            let ours = |unit: &str| {
                self.running
                    .lock()
                    .expect("lock")
                    .iter()
                    .any(|x| x.unit == unit)
            };
            match self.managers.stop_strays(r.uid, &ours).await {
                Ok(units) if !units.is_empty() => {
                    tracing::warn!(resident = %r.name, "stopped turn units an earlier daemon left running: {}", units.join(", "))
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(resident = %r.name, "{e}"),
            }
        }
    }
}
