//! The answers to the mayor's commands: `!status`, `!cost`, `!log`, `!branches`, and
//! `!reset` with the round it begins.

use townhall_config::Town;
use townhall_wire::hall::{CostReport, RepoBranches, ResetSummary, ResidentReport, Worktree};
use townhall_wire::hall::{Outcome, dollars};

use super::spent;

fn budget(usd: Option<f64>, tokens: Option<u64>) -> String {
    let parts: Vec<String> = usd
        .map(dollars)
        .into_iter()
        .chain(tokens.map(|t| format!("{t} tokens")))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" (budget {} per round)", parts.join(" or "))
    }
}

/// `!cost`.
pub fn cost(r: &CostReport) -> String {
    let mut out = format!(
        "**{}** — round {}: {}{}
- this conversation: {}",
        r.resident,
        r.round,
        spent(&r.spent),
        budget(r.budget_usd, r.budget_tokens),
        spent(&r.conversation)
    );
    for (n, s) in r.rounds.iter().take(10) {
        out.push_str(&format!(
            "
- round {n}: {}",
            spent(s)
        ));
    }
    out
}

pub fn status(r: &ResidentReport) -> String {
    let turns: Vec<String> = r
        .turns
        .iter()
        .map(|t| format!("running for {} s in `{}`", t.running_secs, t.conversation))
        .collect();
    let mut notes: String = r
        .last_reset
        .iter()
        .map(|n| format!("\n- last reset: {n}"))
        .collect();
    if r.waiting > 0 {
        notes.push_str(&format!(
            "\n- waiting for the next turn: {} message(s)",
            r.waiting
        ));
    }
    notes.push_str(&format!(
        "\n- spent this round: {}{}",
        spent(&r.spent),
        budget(r.budget_usd, r.budget_tokens)
    ));
    format!(
        "**{}** — round {} (the town's round {}), supervisor up {} s\n- turn: {}\n- processes: {}, memory {:.1} MiB, CPU time {:.1} s\n- chat: {}{notes}",
        r.resident,
        r.round,
        r.town_round,
        r.uptime_secs,
        if turns.is_empty() {
            "idle".into()
        } else {
            turns.join("; ")
        },
        r.processes,
        r.memory_bytes as f64 / (1 << 20) as f64,
        r.cpu_ms as f64 / 1000.0,
        r.chat,
    )
}

pub fn last_turn(outcome: Option<&Outcome>, lines: usize) -> String {
    match outcome {
        None => "_No turn has ended since the supervisor started._".into(),
        Some(o) => {
            let tail: Vec<_> = o
                .stderr_tail
                .iter()
                .rev()
                .take(lines)
                .rev()
                .cloned()
                .collect();
            format!(
                "Last turn: {} (status {}, {} ms)\n```\n{}\n```",
                o.result,
                o.status,
                o.duration_ms,
                tail.join("\n")
            )
        }
    }
}

/// `!reset`: what ending the round (`alone`'s, or the town's) would lose, resident by
/// resident, and how to confirm.
pub fn what_a_reset_loses(
    town: &Town,
    alone: Option<&str>,
    found: &[townhall_wire::hall::LossReport],
) -> String {
    let lost: Vec<String> = town
        .residents
        .iter()
        .filter(|r| alone.is_none_or(|n| n == r.name))
        .map(|r| {
            let kept: Vec<_> = r
                .persist
                .directories
                .iter()
                .chain(&r.persist.files)
                .map(|p| p.display().to_string())
                .collect();
            let mut line = format!(
                "- **{}**: everything in {} except {}",
                r.name,
                town.home(r).display(),
                if kept.is_empty() {
                    "nothing".into()
                } else {
                    kept.join(", ")
                }
            );
            for l in found
                .iter()
                .filter(|l| l.resident == r.name)
                .flat_map(|l| &l.lines)
            {
                line.push_str(&format!("\n  - {l}"));
            }
            line
        })
        .collect();
    let whose = match alone {
        Some(name) => format!(
            "**Ending {name}'s round** (alone: every other resident goes on) stops {name}'s running turns"
        ),
        None => "**Ending the round** for every resident stops the running turns".into(),
    };
    format!(
        "{whose}, and this is lost:\n{}\n\nReply `!reset yes` within {} s to end the round; otherwise nothing happens.",
        lost.join("\n"),
        crate::confirm::WAIT.as_secs()
    )
}

pub fn reset_done(s: &ResetSummary) -> String {
    let mut text = match &s.resident {
        Some(name) => format!(
            "**{name}'s round {} begins** (reset alone in {} ms).",
            s.round, s.duration_ms
        ),
        None => format!(
            "**Round {} begins** (reset in {} ms).",
            s.round, s.duration_ms
        ),
    };
    for w in &s.warnings {
        text.push_str(&format!("\n- ⚠ {w}"));
    }
    text
}

/// `!branches`: the town remote's branches, then the conversations' worktrees (those with
/// uncommitted work marked).
pub fn branches(resident: &str, repos: &[RepoBranches], worktrees: &[Worktree]) -> String {
    let mut s = match repos.is_empty() {
        true => format!("_{resident} may push to no repository of the town remote._\n"),
        false => remote_branches(repos),
    };
    if !worktrees.is_empty() {
        s.push_str(&format!(
            "**worktrees** (one per conversation, in {resident}'s home):\n"
        ));
        for w in worktrees {
            let state = match w.dirty {
                Some(0) => "clean".to_string(),
                Some(n) => format!("✎ {n} uncommitted change(s)"),
                None => "not readable".to_string(),
            };
            s.push_str(&format!(
                "- `{}` at `~/{}`: {state} (conversation `{}`)\n",
                w.branch, w.path, w.conversation
            ));
        }
    }
    s.trim_end().to_string()
}

fn remote_branches(repos: &[RepoBranches]) -> String {
    let mut s = String::new();
    for r in repos {
        let list: Vec<String> = r
            .branches
            .iter()
            .map(|b| format!("- `{}` {} {}: {}", b.name, b.commit, b.when, b.subject))
            .collect();
        let list = if list.is_empty() {
            "_no branches yet_".to_string()
        } else {
            list.join("\n")
        };
        s.push_str(&format!("**{}** ({}):\n{list}\n", r.repo, r.path));
    }
    s
}
