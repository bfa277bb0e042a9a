//! What chat asks of the audit log: `!audit [n]`, a resident's last entries, for a mayor;
//! `!usage [days]`, its spending per day.

use super::Daemon;
use crate::audit::{self, Filter};
use crate::grant::Acls;
use crate::machine::Machine;
use crate::os::OsError;
use crate::units::UserManagers;

/// How much of the log's end a chat question reads: it never reads a long log whole.
const TAIL_BYTES: u64 = 4 << 20;
/// As much for `!usage`, whose days reach further back (a town logging more than this
/// in `!usage`'s span shows its latest days only; `townhall usage` reads all of it).
const USAGE_TAIL_BYTES: u64 = 64 << 20;

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// `resident`'s last `n` entries, one line each, oldest first.
    pub(super) fn history(&self, resident: &str, n: u32) -> Result<Vec<String>, OsError> {
        let entries = audit::read::load_tail(&self.town().state, TAIL_BYTES)?;
        let filter = Filter {
            resident: Some(resident.to_string()),
            ..Filter::default()
        };
        let picked = audit::read::select(entries, &filter, Some(n as usize));
        Ok(picked.iter().map(audit::summary::line).collect())
    }

    /// What `resident` spent per day over the last `days` days, read off the hall's task.
    pub(super) async fn usage(
        &self,
        resident: &str,
        days: u32,
    ) -> Result<Vec<townhall_wire::hall::UsageDay>, super::declined::Declined> {
        let (state, resident) = (self.town().state.clone(), resident.to_string());
        let read = tokio::task::spawn_blocking(move || {
            let entries = audit::read::load_tail(&state, USAGE_TAIL_BYTES)?;
            let now = std::time::SystemTime::now();
            Ok::<_, OsError>(audit::usage::per_day(&entries, Some(&resident), days, now))
        });
        Ok(read.await??)
    }
}
