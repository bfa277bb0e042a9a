//! The notices a resident's rooms read: its devices granted, gone or revoked, a push to the
//! town remote, and a round begun or lost.

use townhall_wire::hall::Notice;

/// A notice for `resident`'s rooms.
pub fn notice(resident: &str, n: &Notice) -> String {
    match n {
        Notice::DeviceGranted {
            devnode,
            read_write,
        } => {
            format!(
                "_Device {devnode} is here and granted to {resident} ({})._",
                if *read_write {
                    "read-write"
                } else {
                    "read-only"
                }
            )
        }
        Notice::DeviceGone { devnode } => format!("_Device {devnode} is gone._"),
        Notice::ScheduleSkipped { id, on, .. } => super::schedules::skipped(id, on),
        Notice::EventsStopped { hops, .. } => super::schedules::events_stopped(*hops),
        Notice::Parked {
            said, at, in_secs, ..
        } => super::schedules::parked(resident, said, at, *in_secs),
        Notice::DeviceRevoked {
            devnode,
            lease_ended: false,
        } => format!("_Access to {devnode} was revoked._"),
        Notice::DeviceRevoked {
            devnode,
            lease_ended: true,
        } => format!("_The lease of {devnode} to {resident} ended: access revoked._"),
        Notice::Pushed {
            pusher,
            repo,
            path,
            refname,
            commits,
            stat,
        } => {
            let short = refname
                .trim_start_matches("refs/heads/")
                .trim_start_matches("refs/tags/");
            format!(
                "**{pusher} pushed `{short}`** to `{repo}`: {commits} commit(s), {stat}; every commit signed by {pusher}'s townhall key.\n```\ngit fetch {path} {refname}\n```"
            )
        }
        Notice::RoundBegan { round, lines } => {
            let lines: Vec<String> = lines.iter().map(|l| format!("- {l}")).collect();
            format!(
                "**Round {round} began**, and the reset reports for {resident}:\n{}",
                lines.join("\n")
            )
        }
        Notice::RoundLost { round, lines } if lines.is_empty() => {
            format!(
                "_Round {round} of {resident} ended: nothing uncommitted, unpushed or unpersisted was lost._"
            )
        }
        Notice::RoundLost { round, lines } => {
            let lines: Vec<String> = lines.iter().map(|l| format!("- {l}")).collect();
            format!(
                "**Round {round} of {resident} ended**, and with it:\n{}",
                lines.join("\n")
            )
        }
        Notice::BudgetSpent { spent, budget } => format!(
            "**{resident} has spent {spent} of this round's budget of {budget}**: the gate refuses its model calls until the next round (`!reset`), or raise [budget] in residents/{resident}.toml."
        ),
        Notice::Dropped { to, more, turn } => {
            let during = turn.as_deref().map_or_else(
                || " (no turn was running)".to_string(),
                |t| format!(" during `{t}`"),
            );
            let more = match more {
                0 => String::new(),
                n => format!(", and {n} more since the last notice"),
            };
            format!(
                "🚫 **{resident} sent to `{to}` around the gate**{during}: the town's rules dropped it{more}. Only the gate is open; a host goes in `[network] allow` in residents/{resident}.toml. `!network` lists what was refused this round."
            )
        }
    }
}
