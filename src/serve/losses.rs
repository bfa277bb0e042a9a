//! What a round lost, told in each resident's rooms after a confirmed reset. The reset
//! itself walks nothing (its wall time must not grow with the residents' files): before
//! the retired round is deleted, the helper reads each home in it (round::losses_in) and
//! the rooms hear what went, once per round, across restarts.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::notices::Teller;
use crate::config::Town;
use crate::hall::Notice;
use crate::round::{Retired, retired_kind};

/// The round a subvolume holds, from the marker root wrote at its top.
fn round_of(subvolume: &Path) -> Option<u64> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(subvolume.join(crate::round::ROUND_MARKER))
        .ok()?;
    let mut text = String::new();
    f.by_ref().take(64).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// The residents whose homes the retired subvolume at `retired` holds.
pub fn homes_in<'a>(town: &'a Town, retired: &Path) -> Vec<&'a crate::config::Resident> {
    let named = match retired_kind(&town.live_path(), retired) {
        Some(Retired::Home { name, .. }) => Some(name),
        _ => None,
    };
    town.residents
        .iter()
        .filter(|r| named.as_ref().is_none_or(|n| *n == r.name))
        .filter(|r| std::fs::symlink_metadata(retired.join(&r.name)).is_ok_and(|m| m.is_dir()))
        .collect()
}

/// Tell each resident's rooms what the retired round at `retired` held that is lost: only
/// for a round that was lived in (older than the live one), and once.
pub fn tell(teller: &Teller, town: &Town, retired: &Path) {
    if let Some(Retired::Home { name, round }) = retired_kind(&town.live_path(), retired) {
        return tell_home(teller, town, retired, &name, round);
    }
    let (Some(round), Some(live)) = (round_of(retired), round_of(&town.live_path())) else {
        return;
    };
    if round >= live {
        return; // a new round that was never put in place: nothing of it was used
    }
    let told_path = town.state.join("losses-told");
    let told = super::notices::told_round(&told_path);
    if round <= told {
        return;
    }
    for r in homes_in(town, retired) {
        let lost = crate::round::losses_in(town, r, &retired.join(&r.name));
        tracing::info!(resident = %r.name, round, "what the round lost: {} line(s)", lost.lines().len());
        teller.tell(
            &r.name,
            Notice::RoundLost {
                round,
                lines: lost.lines(),
            },
        );
    }
    if let Err(e) = crate::os::write_atomic(&told_path, format!("{round}\n").as_bytes()) {
        tracing::warn!("{e}");
    }
}

/// A home retired by a reset of its resident alone: what it held is told in that
/// resident's rooms, once per round of its own; a home never put in place (round 0) lost
/// nothing.
fn tell_home(teller: &Teller, town: &Town, retired: &Path, name: &str, round: u64) {
    let Some(r) = town.resident(name) else { return };
    let told_path = town.state.join(format!("losses-told-{name}"));
    let told = super::notices::told_round(&told_path);
    if round == 0 || round <= told {
        return;
    }
    let home = retired.join(name);
    if !std::fs::symlink_metadata(&home).is_ok_and(|m| m.is_dir()) {
        return;
    }
    let lost = crate::round::losses_in(town, r, &home);
    tracing::info!(resident = %name, round, "what the home lost: {} line(s)", lost.lines().len());
    teller.tell(
        name,
        Notice::RoundLost {
            round,
            lines: lost.lines(),
        },
    );
    if let Err(e) = crate::os::write_atomic(&told_path, format!("{round}\n").as_bytes()) {
        tracing::warn!("{e}");
    }
}
