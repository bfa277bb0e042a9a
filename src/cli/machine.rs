//! The composition root: the real machine is put together here, once, and every command
//! that acts on the host (serve, init, reset, level) receives its seams from it.

use townhall::config::Town;
use townhall::machine::{Parts, Real};

/// The host's adapters, with the signing keys in `town`'s state dir.
pub fn real(town: &Town) -> Real {
    Parts {
        subvolumes: townhall::round::Btrfs,
        files: townhall::round::HostFiles,
        accounts: townhall::resident::SystemAccounts,
        git: townhall::git::Git2,
        presence: townhall::level::HostPresence,
        settings: townhall::level::ThisHost,
        keys: townhall::sign::Keys::new(&town.state),
        remote: townhall::remote::HostRemote,
        serial: townhall::grant::Termios,
        public: townhall::public::PublicDir,
        post: townhall::files::HostPost,
        worktrees: townhall::worktree::HostWorktrees,
        timers: townhall::schedule::HostTimers,
    }
}
