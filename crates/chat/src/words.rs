//! The words the mayor reads in a room, made from what the daemon reports.

use townhall_config::Budget;
use townhall_config::Town;
use townhall_wire::hall::{CostReport, Notice, RepoBranches, ResetSummary, ResidentReport};
use townhall_wire::hall::{Outcome, Spent, dollars};

/// The line under an answer: how the turn ended when not plainly, and what went wrong.
pub fn footer(outcome: &Result<Outcome, String>, errors: &[String]) -> Option<String> {
    let mut footer = match outcome {
        Ok(o) if o.stopped => Some("_(stopped)_".to_string()),
        Ok(o) if o.timed_out => Some("_(timed out and stopped)_".to_string()),
        Ok(o) if o.result == "success" => None,
        Ok(o) => Some(format!(
            "_(failed: {} {})_\n```\n{}\n```",
            o.result,
            o.status,
            o.stderr_tail.join("\n")
        )),
        Err(e) => Some(format!("_(could not run: {e})_")),
    };
    // A turn that could not run reports why once, above; the rest are the CLI's own.
    let errors: Vec<&String> = errors
        .iter()
        .filter(|e| !matches!(outcome, Err(o) if o == *e))
        .collect();
    if !errors.is_empty() {
        let e = format!(
            "_{}_",
            errors
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        footer = Some(footer.map_or(e.clone(), |f| format!("{f}\n{e}")));
    }
    footer
}

/// Turns, cost (when the CLI reports one) and tokens.
pub fn spent(s: &Spent) -> String {
    let cost = if s.cost_usd > 0.0 {
        format!("{} · ", dollars(s.cost_usd))
    } else {
        String::new()
    };
    format!(
        "{cost}{} in / {} out tokens · {} turn(s)",
        s.input_tokens, s.output_tokens, s.turns
    )
}

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

/// Under an answer that cost more than the resident's `[budget] show_from_*`: the turn's
/// spending and its conversation's this round.
pub fn spent_footer(o: &Outcome, b: &Budget) -> Option<String> {
    let turn = o.spent?;
    let shown = if turn.cost_usd > 0.0 {
        turn.cost_usd >= b.show_from_usd
    } else {
        turn.tokens() >= b.show_from_tokens && turn.tokens() > 0
    };
    if !shown {
        return None;
    }
    let conv = o
        .conversation_spent
        .map(|c| format!("; this conversation this round: {}", spent(&c)))
        .unwrap_or_default();
    Some(format!(
        "_this turn: {}{conv}_",
        spent(&Spent { turns: 1, ..turn })
    ))
}

/// The session an answer's conversation continues in, and how to pick it up at a terminal.
pub fn session(resident: &str, conversation: &str, id: &str) -> String {
    format!(
        "_session `{id}` · at a terminal: `townhall attach {resident} --conversation '{conversation}'`_"
    )
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
        "**{}** — round {}, supervisor up {} s\n- turn: {}\n- processes: {}, memory {:.1} MiB, CPU time {:.1} s\n- chat: {}{notes}",
        r.resident,
        r.round,
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

/// `!reset`: what ending the round would lose, resident by resident, and how to confirm.
pub fn what_a_reset_loses(town: &Town, found: &[townhall_wire::hall::LossReport]) -> String {
    let lost: Vec<String> = town
        .residents
        .iter()
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
    format!(
        "**Ending the round** stops the running turns, and this is lost:\n{}\n\nReply `!reset yes` within {} s to end the round; otherwise nothing happens.",
        lost.join("\n"),
        super::confirm::WAIT.as_secs()
    )
}

pub fn reset_done(s: &ResetSummary) -> String {
    let mut text = format!(
        "**Round {} begins** (reset in {} ms).",
        s.round, s.duration_ms
    );
    for w in &s.warnings {
        text.push_str(&format!("\n- ⚠ {w}"));
    }
    text
}

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
    }
}

/// `!branches`.
pub fn branches(resident: &str, repos: &[RepoBranches]) -> String {
    if repos.is_empty() {
        return format!("_{resident} may push to no repository of the town remote._");
    }
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

/// The reaction on a message kept for the conversation's next turn.
pub const KEPT: &str = "👀";

/// Said above an answer that waited for the chat to come back.
pub const LATE: &str = "_(this answer waited while townhall restarted)_";
/// Under what a turn had streamed when townhall restarted under it: it runs again.
pub const INTERRUPTED: &str =
    "_(interrupted: townhall restarted; this turn runs again and its answer follows)_";

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(result: &str) -> Outcome {
        Outcome {
            result: result.into(),
            status: 1,
            stopped: false,
            timed_out: false,
            stderr_tail: vec!["boom".into()],
            duration_ms: 5,
            spent: None,
            conversation_spent: None,
            session: None,
            files: vec![],
            files_left: vec![],
        }
    }

    #[test]
    fn footers_say_how_a_turn_ended() {
        assert_eq!(footer(&Ok(ended("success")), &[]), None);
        assert!(
            footer(&Ok(ended("exit-code")), &[])
                .unwrap()
                .contains("failed: exit-code 1")
        );
        let e = "queue full".to_string();
        assert_eq!(
            footer(&Err(e.clone()), std::slice::from_ref(&e)).unwrap(),
            "_(could not run: queue full)_"
        );
        assert!(
            footer(&Ok(ended("success")), &["rate limited".into()])
                .unwrap()
                .contains("rate limited")
        );
    }

    #[test]
    fn spending_shows_from_the_residents_threshold() {
        let turn = Spent {
            turns: 1,
            input_tokens: 22,
            output_tokens: 10,
            cost_usd: 0.000288,
        };
        let o = Outcome {
            spent: Some(turn),
            conversation_spent: Some(Spent { turns: 2, ..turn }),
            ..ended("success")
        };
        assert_eq!(
            spent_footer(&o, &Budget::default()),
            None,
            "below the default $0.05"
        );
        let low = Budget {
            show_from_usd: 0.0001,
            ..Budget::default()
        };
        let f = spent_footer(&o, &low).unwrap();
        assert!(
            f.starts_with(
                "_this turn: $0.000288 · 22 in / 10 out tokens · 1 turn(s); this conversation"
            ),
            "{f}"
        );
        // Without a cost (codex, gemini) the tokens decide.
        let tokens = Outcome {
            spent: Some(Spent {
                cost_usd: 0.0,
                input_tokens: 60_000,
                ..turn
            }),
            ..o
        };
        assert!(
            spent_footer(&tokens, &Budget::default())
                .unwrap()
                .contains("60000 in / 10 out tokens")
        );
    }
}
