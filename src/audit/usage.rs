//! Spending per day, summed from the audit log's turn entries (each one carries what its
//! turn spent: the gate's figures for a gated resident, else the CLI's own). Every day of
//! the span is there, a day without turns as zero, so a chart's days are evenly spaced.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use townhall_wire::hall::UsageDay;

use super::Entry;

const DAY: Duration = Duration::from_secs(86_400);

/// YYYY-MM-DD of `t`, UTC.
fn date(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()[..10].to_string()
}

/// The last `days` days up to `today` (UTC), with `resident`'s turns (every resident's when
/// None) summed into each.
pub fn per_day(
    entries: &[Entry],
    resident: Option<&str>,
    days: u32,
    today: SystemTime,
) -> Vec<UsageDay> {
    let mut out: Vec<UsageDay> = (0..days)
        .rev()
        .filter_map(|back| today.checked_sub(DAY * back))
        .map(|t| UsageDay {
            date: date(t),
            turns: 0,
            tokens: 0,
            usd: 0.0,
        })
        .collect();
    let turns = entries.iter().filter(|e| e.kind == "turn");
    for e in turns.filter(|e| resident.is_none_or(|r| e.residents().iter().any(|x| x == r))) {
        let Some(day) = out.iter_mut().find(|d| e.time.starts_with(&d.date)) else {
            continue;
        };
        day.turns += 1;
        day.tokens = day
            .tokens
            .saturating_add(e.detail.get("tokens").and_then(Value::as_u64).unwrap_or(0));
        // What a hostile CLI printed may be absurd: only finite, positive amounts count.
        let usd = e.detail.get("usd").and_then(Value::as_f64).unwrap_or(0.0);
        if usd.is_finite() && usd > 0.0 {
            day.usd += usd.min(1e6);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_day_of_the_span_sums_its_turns_and_a_quiet_day_is_zero() {
        let log = r#"{"time":"2026-12-02T23:59:00Z","event":"turn","detail":{"resident":"ada","tokens":100,"usd":0.5}}
{"time":"2026-12-04T01:00:00Z","event":"turn","detail":{"resident":"ada","tokens":10,"usd":0.25}}
{"time":"2026-12-04T02:00:00Z","event":"turn","detail":{"resident":"ada","tokens":5,"usd":-3}}
{"time":"2026-12-04T03:00:00Z","event":"turn","detail":{"resident":"vox","tokens":1000}}
{"time":"2026-12-04T04:00:00Z","event":"reset","detail":{"residents":["ada"]}}
{"time":"2026-11-01T00:00:00Z","event":"turn","detail":{"resident":"ada","tokens":7}}"#;
        let (entries, _) = super::super::read::parse(log);
        let today = humantime::parse_rfc3339("2026-12-04T12:00:00Z").unwrap();
        let days = per_day(&entries, Some("ada"), 3, today);
        let dates: Vec<&str> = days.iter().map(|d| d.date.as_str()).collect();
        assert_eq!(dates, ["2026-12-02", "2026-12-03", "2026-12-04"]);
        assert_eq!((days[0].turns, days[0].tokens, days[0].usd), (1, 100, 0.5));
        assert_eq!(days[1].turns, 0, "a quiet day");
        assert_eq!((days[2].turns, days[2].tokens, days[2].usd), (2, 15, 0.25));
        let all = per_day(&entries, None, 1, today);
        assert_eq!(all[0].tokens, 1015);
    }
}
