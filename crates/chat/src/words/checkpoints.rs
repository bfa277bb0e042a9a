//! `!checkpoint`, `!checkpoints` and `!rollback` in words: what was taken, what there is,
//! what a rollback does (and does not do), and that it was done.

use townhall_config::Town;
use townhall_wire::hall::{CheckpointInfo, ResetSummary};

fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

fn size(c: &CheckpointInfo) -> String {
    let mib = c.bytes as f64 / (1 << 20) as f64;
    let floor = if c.whole { "" } else { "at least " };
    format!("{floor}{mib:.1} MiB in {floor}{} entries", c.entries)
}

fn line(c: &CheckpointInfo) -> String {
    let label = if c.label.is_empty() {
        String::new()
    } else {
        format!(" “{}”", c.label)
    };
    format!("- **{}**{label}: {}, {}", c.n, age(c.age_secs), size(c))
}

/// `!checkpoint`: the new one is the last of the list root answers with.
pub fn checkpoint_taken(resident: &str, list: &[CheckpointInfo]) -> String {
    match list.last() {
        Some(c) => format!(
            "_Checkpoint **{}** of {resident}'s home taken. `!rollback {}` goes back to it; it lasts until {resident}'s round ends._",
            c.n, c.n
        ),
        None => format!("_No checkpoint of {resident}'s home is there._"),
    }
}

/// `!checkpoints`.
pub fn checkpoints(resident: &str, list: &[CheckpointInfo]) -> String {
    if list.is_empty() {
        return format!(
            "_{resident} has no checkpoints this round; `!checkpoint [label]` takes one._"
        );
    }
    let lines: Vec<String> = list.iter().map(line).collect();
    format!(
        "**{resident}'s checkpoints** (until its round ends):\n{}",
        lines.join("\n")
    )
}

/// `!rollback N`: what it does, what it keeps, and how to confirm.
pub fn rollback_offer(town: &Town, resident: &str, c: &CheckpointInfo) -> String {
    let kept: Vec<String> = town
        .resident(resident)
        .map(|r| {
            r.persist
                .directories
                .iter()
                .chain(&r.persist.files)
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    let kept = if kept.is_empty() {
        "nothing is persisted".to_string()
    } else {
        format!(
            "its persisted paths ({}) are **not** rolled back: they stay as they are now",
            kept.join(", ")
        )
    };
    format!(
        "**Rolling {resident}'s home back** to checkpoint\n{}\nstops {resident}'s running turns and ends every process of it; everything else in its home since then is lost, and {kept}.\n\nReply `!rollback yes` within {} s to roll back; otherwise nothing happens.",
        line(c),
        crate::confirm::WAIT.as_secs()
    )
}

/// `!rollback yes` done.
pub fn rolled_back(resident: &str, n: u64, s: &ResetSummary) -> String {
    let mut text = format!(
        "**{resident}'s home is back at checkpoint {n}** (in {} ms; its round {} goes on).",
        s.duration_ms, s.round
    );
    for w in &s.warnings {
        text.push_str(&format!("\n- ⚠ {w}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_says_persisted_paths_stay_and_the_list_reads() {
        let town = crate::testing::demo_town();
        let c = CheckpointInfo {
            n: 2,
            label: "before `rm`".into(),
            age_secs: 300,
            bytes: 3 << 20,
            entries: 40,
            whole: false,
        };
        let offer = rollback_offer(&town, "ada", &c);
        assert!(offer.contains("are **not** rolled back"), "{offer}");
        assert!(offer.contains("!rollback yes"), "{offer}");
        let list = checkpoints("ada", &[c]);
        assert!(
            list.contains("**2**")
                && list.contains("5 min ago")
                && list.contains("at least 3.0 MiB"),
            "{list}"
        );
    }
}
