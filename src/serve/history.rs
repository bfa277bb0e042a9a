//! `!audit [n]`: a resident's last entries in the audit log, for a mayor in chat.

use super::Daemon;
use crate::audit::{self, Filter};
use crate::grant::Acls;
use crate::machine::Machine;
use crate::os::OsError;
use crate::units::UserManagers;

/// How much of the log's end a chat question reads: it never reads a long log whole.
const TAIL_BYTES: u64 = 4 << 20;

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
}
