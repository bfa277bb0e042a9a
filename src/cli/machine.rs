//! The composition root: the real machine is put together here, once, and every command
//! that acts on the host (serve, init, reset, level) receives its seams from it.

use townhall::machine::{Parts, Real};

pub fn real() -> Real {
    Parts {
        subvolumes: townhall::round::Btrfs,
        files: townhall::round::HostFiles,
        accounts: townhall::resident::SystemAccounts,
        git: townhall::git::Git2,
        presence: townhall::level::HostPresence,
        settings: townhall::level::ThisHost,
    }
}
