//! Each kind's words for "usage limit reached", and when the limit says it resets: a turn
//! that ends so parks its conversation until then instead of failing for good. The lines
//! in recorded/*-usage-limit.* are the CLIs' own words as their users reported them in the
//! CLIs' issue trackers (no test account here reaches a real limit, so they carry no
//! version); a line no kind says is never a limit.

use crate::config::AgentKind;

/// The provider refused the turn for its usage limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    /// When it resets (Unix seconds), when the CLI says so.
    pub until: Option<u64>,
    /// The line that said it.
    pub said: String,
}

/// The longest a limit may hold a conversation: weekly plans reset within a week, and a
/// CLI (the resident's own process) that names a later time is not believed.
pub const MAX_WAIT: u64 = 7 * 24 * 3600;

/// claude: `Claude AI usage limit reached|<unix seconds>`; newer builds `You've hit your
/// limit · resets 8pm (Europe/Berlin)` (no time townhall can read without a zone database).
const CLAUDE: [&str; 2] = ["Claude AI usage limit reached", "You've hit your limit"];
/// codex: `You've hit your usage limit. … try again at 3:28 PM.`
const CODEX: [&str; 1] = ["You've hit your usage limit"];
/// gemini: `You have exhausted your capacity on this model. Your quota will reset after
/// 2h52m39s.`
const GEMINI: [&str; 2] = [
    "You have exhausted your capacity on this model",
    "Your quota will reset after",
];

/// The usage limit `lines` (the turn's errors, answer and stderr) report, if any; `now`
/// in Unix seconds, `local` reads a wall-clock time (codex's) as the next such moment.
pub fn limit(
    kind: AgentKind,
    lines: &[String],
    now: u64,
    local: &dyn Fn(u32, u32) -> Option<u64>,
) -> Option<Limit> {
    let words: &[&str] = match kind {
        AgentKind::Claude => &CLAUDE,
        AgentKind::Codex => &CODEX,
        AgentKind::Gemini => &GEMINI,
        AgentKind::Command => &[],
    };
    let said = lines.iter().find(|l| words.iter().any(|w| l.contains(w)))?;
    let until = match kind {
        AgentKind::Claude => claude_until(said),
        AgentKind::Codex => codex_until(said, local),
        AgentKind::Gemini => gemini_until(said, now),
        AgentKind::Command => None,
    }
    .filter(|t| *t > now)
    .map(|t| t.min(now + MAX_WAIT));
    Some(Limit {
        until,
        said: said.chars().take(300).collect(),
    })
}

fn claude_until(line: &str) -> Option<u64> {
    let after = line.split("usage limit reached|").nth(1)?;
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `… try again at 3:28 PM.`
fn codex_until(line: &str, local: &dyn Fn(u32, u32) -> Option<u64>) -> Option<u64> {
    let at = line.split("try again at ").nth(1)?;
    let mut words = at.split_whitespace();
    let (h, m) = words.next()?.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let half: String = words
        .next()?
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    let pm = match half.as_str() {
        "PM" | "pm" => true,
        "AM" | "am" => false,
        _ => return None,
    };
    if !(1..=12).contains(&h) || m > 59 {
        return None;
    }
    local((h % 12) + if pm { 12 } else { 0 }, m)
}

/// `Your quota will reset after 2h52m39s.`
fn gemini_until(line: &str, now: u64) -> Option<u64> {
    let after = line.split("reset after ").nth(1)?;
    let span: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let d = humantime::parse_duration(&span).ok()?;
    Some(now + d.as_secs())
}

/// The next moment the host's clock reads `hour:minute` (local time), in Unix seconds.
pub fn next_local(hour: u32, minute: u32) -> Option<u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as libc::time_t;
    // SAFETY: localtime_r and mktime read and write only the structs given.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return None;
        }
        tm.tm_hour = hour as i32;
        tm.tm_min = minute as i32;
        tm.tm_sec = 0;
        tm.tm_isdst = -1;
        let mut at = libc::mktime(&mut tm);
        if at <= now {
            tm.tm_mday += 1;
            tm.tm_isdst = -1;
            at = libc::mktime(&mut tm);
        }
        u64::try_from(at).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded lines of each kind, one per line.
    fn recorded(name: &str) -> Vec<String> {
        let path = format!(
            "{}/src/turn/drivers/recorded/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    const NOW: u64 = 1_760_000_000;

    fn at_15_28(h: u32, m: u32) -> Option<u64> {
        (h == 15 && m == 28).then_some(NOW + 3600)
    }

    #[test]
    fn each_kinds_usage_limit_is_read_with_its_reset_time() {
        let claude = limit(
            AgentKind::Claude,
            &recorded("claude-usage-limit.jsonl"),
            NOW,
            &at_15_28,
        )
        .unwrap();
        assert_eq!(claude.until, Some(1_760_018_000));
        let newer = limit(
            AgentKind::Claude,
            &recorded("claude-usage-limit-newer.txt"),
            NOW,
            &at_15_28,
        )
        .unwrap();
        assert_eq!(newer.until, None, "a zone's wall clock: backoff");
        let codex = limit(
            AgentKind::Codex,
            &recorded("codex-usage-limit.jsonl"),
            NOW,
            &at_15_28,
        )
        .unwrap();
        assert_eq!(codex.until, Some(NOW + 3600));
        let gemini = limit(
            AgentKind::Gemini,
            &recorded("gemini-usage-limit.stderr"),
            NOW,
            &at_15_28,
        )
        .unwrap();
        assert_eq!(gemini.until, Some(NOW + 2 * 3600 + 52 * 60 + 39));
    }

    #[test]
    fn other_lines_and_other_kinds_are_no_limit() {
        let lines = recorded("claude-2.1.332-first.jsonl");
        assert_eq!(limit(AgentKind::Claude, &lines, NOW, &at_15_28), None);
        let claude = recorded("claude-usage-limit.jsonl");
        assert_eq!(limit(AgentKind::Gemini, &claude, NOW, &at_15_28), None);
        assert_eq!(limit(AgentKind::Command, &claude, NOW, &at_15_28), None);
        // A reset time already past is no time to wait for.
        let past = vec!["claude: Claude AI usage limit reached|1000".to_string()];
        let l = limit(AgentKind::Claude, &past, NOW, &at_15_28).unwrap();
        assert_eq!(l.until, None);
        // One a century away holds it a week at most.
        let far = vec!["Claude AI usage limit reached|9999999999".to_string()];
        let l = limit(AgentKind::Claude, &far, NOW, &at_15_28).unwrap();
        assert_eq!(l.until, Some(NOW + MAX_WAIT));
    }

    #[test]
    fn the_next_local_wall_clock_time_is_ahead_within_a_day() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let t = next_local(3, 28).unwrap();
        assert!(t > now && t <= now + 25 * 3600, "{t} vs {now}");
    }
}
