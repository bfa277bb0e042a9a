//! Rounds: the btrfs seam that levels /agents between rounds.

mod subvolume;

pub use subvolume::{Btrfs, FakeSubvolumes, Subvolumes};
