//! The audit log read back: its lines as entries, whose each one is, and the ones a
//! question picks (a resident, a time, kinds). A line that is not an entry is counted,
//! never fatal: the log is appended to by a process that may die mid-line.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::os::{OsContext, OsError};

/// The kinds root writes, for `--kind` to be checked against.
pub const KINDS: &[&str] = &[
    "turn",
    "reset",
    "reset-recovered",
    "checkpoint",
    "rollback",
    "level",
    "device",
    "lease",
    "release",
    "tail",
    "push",
    "sign",
    "approval-asked",
    "approval-decided",
    "tool",
    "file-received",
    "invite-declined",
    "message-ignored",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// RFC 3339, UTC, to the second.
    pub time: String,
    #[serde(rename = "event")]
    pub kind: String,
    #[serde(default)]
    pub detail: Value,
}

impl Entry {
    /// The residents it concerns: a `resident` or `residents` in its detail, or one level
    /// down (a device change is `{"Granted": {"resident": …}}`).
    pub fn residents(&self) -> Vec<String> {
        let mut out = Vec::new();
        named(&self.detail, &mut out);
        if let Value::Object(m) = &self.detail {
            m.values().for_each(|v| named(v, &mut out));
        }
        out.sort();
        out.dedup();
        out
    }

    pub fn at(&self) -> Option<SystemTime> {
        humantime::parse_rfc3339_weak(&self.time).ok()
    }
}

fn named(v: &Value, out: &mut Vec<String>) {
    let Value::Object(m) = v else { return };
    if let Some(Value::String(r)) = m.get("resident") {
        out.push(r.clone());
    }
    if let Some(Value::Array(rs)) = m.get("residents") {
        out.extend(rs.iter().filter_map(|r| r.as_str().map(String::from)));
    }
}

/// What to pick: every condition given holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub resident: Option<String>,
    pub since: Option<SystemTime>,
    /// Any of these kinds; empty: every kind.
    pub kinds: Vec<String>,
}

impl Filter {
    pub fn picks(&self, e: &Entry) -> bool {
        let resident = self
            .resident
            .as_ref()
            .is_none_or(|r| e.residents().contains(r));
        let since = self.since.is_none_or(|s| e.at().is_some_and(|at| at >= s));
        let kind = self.kinds.is_empty() || self.kinds.contains(&e.kind);
        resident && since && kind
    }
}

/// Why a question to the log is not one.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BadFilter {
    #[error(
        "`{0}` is not a kind the audit log holds; use one of: {kinds}",
        kinds = KINDS.join(", ")
    )]
    Kind(String),
    #[error(
        "`{0}` is neither a time nor a span: write an RFC 3339 time (2026-12-04T07:00:00Z) or how long ago (90m, 2h, 7days)"
    )]
    Since(String),
}

/// A kind as `--kind` gives it, checked.
pub fn kind(k: &str) -> Result<String, BadFilter> {
    match KINDS.contains(&k) {
        true => Ok(k.to_string()),
        false => Err(BadFilter::Kind(k.into())),
    }
}

/// `--since`: a time, or a span back from `now`.
pub fn since(s: &str, now: SystemTime) -> Result<SystemTime, BadFilter> {
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(t);
    }
    humantime::parse_duration(s)
        .ok()
        .and_then(|d: Duration| now.checked_sub(d))
        .ok_or_else(|| BadFilter::Since(s.into()))
}

/// Every entry of `text`, oldest first, and how many lines were not entries.
pub fn parse(text: &str) -> (Vec<Entry>, usize) {
    let (mut entries, mut bad) = (Vec::new(), 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => entries.push(e),
            Err(_) => bad += 1,
        }
    }
    (entries, bad)
}

/// The town's audit log (`STATE/audit.log`); none yet is an empty one.
pub fn load(state: &Path) -> Result<(Vec<Entry>, usize), OsError> {
    let path = state.join("audit.log");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), 0)),
        Err(e) => Err(e).os(|| format!("reading {}", path.display())),
    }
}

/// The entries of the log's last `max` bytes (the first line there, maybe cut, dropped):
/// what a chat question reads, bounded however long the log has grown.
pub fn load_tail(state: &Path, max: u64) -> Result<Vec<Entry>, OsError> {
    use std::io::{Read, Seek, SeekFrom};
    let path = state.join("audit.log");
    let what = || format!("reading {}", path.display());
    let mut f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).os(what),
    };
    let len = f.metadata().os(what)?.len();
    let from = len.saturating_sub(max);
    f.seek(SeekFrom::Start(from)).os(what)?;
    let mut bytes = Vec::new();
    f.take(max).read_to_end(&mut bytes).os(what)?;
    let text = String::from_utf8_lossy(&bytes);
    let whole = match from {
        0 => &text[..],
        _ => text.split_once('\n').map_or("", |(_, rest)| rest),
    };
    Ok(parse(whole).0)
}

/// The entries `f` picks, oldest first; with `last`, only the last that many.
pub fn select(entries: Vec<Entry>, f: &Filter, last: Option<usize>) -> Vec<Entry> {
    let mut picked: Vec<Entry> = entries.into_iter().filter(|e| f.picks(e)).collect();
    if let Some(n) = last {
        picked.drain(..picked.len().saturating_sub(n));
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"{"time":"2026-12-04T07:00:00Z","event":"reset","detail":{"round":3,"residents":["ada","vox"]}}
{"time":"2026-12-04T07:10:00Z","event":"device","detail":{"Granted":{"devnode":"/dev/ttyS0","resident":"ada"}}}
{"time":"2026-12-04T07:20:0
{"time":"2026-12-04T07:30:00Z","event":"reset","detail":{"round":3,"rounds":{"vox":4},"residents":["vox"]}}
{"time":"2026-12-04T07:40:00Z","event":"turn","detail":{"resident":"ada","result":"success"}}
"#;

    #[test]
    fn a_question_picks_a_residents_kinds_since_a_time_and_skips_torn_lines() {
        let (all, bad) = parse(LOG);
        assert_eq!((all.len(), bad), (4, 1), "a line cut mid-write is counted");
        assert_eq!(all[1].residents(), ["ada"], "one level down");
        let f = Filter {
            resident: Some("ada".into()),
            kinds: vec!["reset".into()],
            ..Filter::default()
        };
        let resets = select(all.clone(), &f, None);
        assert_eq!(resets.len(), 1, "vox's reset alone is not ada's");
        let since = since("2026-12-04T07:05:00Z", SystemTime::now()).unwrap();
        let f = Filter {
            resident: Some("ada".into()),
            since: Some(since),
            ..Filter::default()
        };
        let kinds: Vec<String> = select(all.clone(), &f, None)
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["device", "turn"]);
        let last = select(all, &Filter::default(), Some(1));
        assert_eq!(last[0].kind, "turn");
    }

    #[test]
    fn a_tail_drops_the_line_it_cuts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("audit.log"), LOG).unwrap();
        let last = LOG.lines().last().unwrap().len() as u64 + 20;
        let tail = load_tail(dir.path(), last).unwrap();
        assert_eq!(tail.len(), 1, "{tail:?}");
        assert_eq!(tail[0].kind, "turn");
        assert_eq!(load_tail(dir.path(), 1 << 20).unwrap().len(), 4);
        assert!(load_tail(&dir.path().join("none"), 10).unwrap().is_empty());
    }

    #[test]
    fn a_bad_kind_or_time_says_what_to_write() {
        assert_eq!(kind("reset"), Ok("reset".into()));
        assert!(
            kind("resets")
                .unwrap_err()
                .to_string()
                .contains("use one of: turn, reset")
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(since("2h", now), Ok(now - Duration::from_secs(7200)));
        assert!(
            since("yesterday-ish", now)
                .unwrap_err()
                .to_string()
                .contains("RFC 3339")
        );
    }
}
