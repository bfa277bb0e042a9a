//! `!model`, `!effort`, `!plan`: a conversation's mode, shown or changed, kept for its
//! next turns (`turn::modes`); the turn's argv takes it at start (`drivers::modes`).

use super::Daemon;
use super::declined::Declined;
use crate::grant::Acls;
use crate::machine::Machine;
use crate::units::UserManagers;
use townhall_wire::hall::{ModeChange, Said};

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) fn mode(
        &self,
        resident: &str,
        conversation: &str,
        change: &ModeChange,
    ) -> Result<Said, Declined> {
        let town = self.town();
        let r = town
            .resident(resident)
            .ok_or_else(|| Declined::NoResident(resident.into()))?;
        let kept = self.desk.modes.get(resident, conversation);
        let now = crate::turn::modes::still(r, &kept);
        let next = crate::turn::modes::changed(r, &now, change)?;
        if next != kept {
            self.desk.modes.set(resident, conversation, next.clone())?;
            tracing::info!(%resident, %conversation, ?next, "a conversation's mode changed");
        }
        Ok(Said::Mode {
            mode: next,
            kind: format!("{:?}", r.agent.kind).to_lowercase(),
            models: r.agent.models.clone(),
        })
    }
}
