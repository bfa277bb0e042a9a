//! `!branches`' second half: the resident's conversations' worktrees this round, each with
//! its uncommitted changes as git (running as the resident) counts them.

use super::Daemon;
use crate::grant::Acls;
use crate::hall::Worktree;
use crate::machine::Machine;
use crate::units::UserManagers;
use crate::worktree::Worktrees as _;

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// `resident`'s worktrees of its round, oldest first.
    pub(super) async fn worktrees(&self, resident: &str) -> Vec<Worktree> {
        let town = self.town();
        let Some(r) = town.resident(resident).cloned() else {
            return Vec::new();
        };
        let round = match crate::round::RoundState::new(&town.state).round_of(resident) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("{e}");
                return Vec::new();
            }
        };
        let kept = self.desk.worktrees_of(resident, round);
        let slugs: Vec<String> = kept.iter().map(|(_, s)| s.clone()).collect();
        let (machine, home) = (self.machine.clone(), town.home(&r));
        let dirty =
            tokio::task::spawn_blocking(move || machine.worktrees().dirty(&r, &home, &slugs))
                .await
                .unwrap_or_default();
        kept.into_iter()
            .enumerate()
            .map(|(i, (conversation, slug))| Worktree {
                conversation,
                branch: crate::worktree::branch(resident, &slug),
                path: format!("{}/{slug}", crate::worktree::DIR),
                dirty: dirty.get(i).copied().flatten(),
            })
            .collect()
    }
}
