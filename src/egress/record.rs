//! What each resident's network did this round: hosts a mayor opened, what was refused at
//! the gate or dropped by the kernel, and when the room was last told of a drop. Pure state
//! (no system calls): the daemon feeds it and says what it decides.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use townhall_wire::hall::{Refusal, RefusedBy};

/// At most one notice of dropped packets per resident in this long.
pub const TELL_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Resident {
    round: u64,
    opened: BTreeSet<String>,
    refused: BTreeMap<(RefusedBy, String), u64>,
    /// When the room was last told of a drop, and the first drop since that it has not
    /// heard of (with how many more came): a telling is due for it.
    told: Option<Instant>,
    untold: Option<Tell>,
}

impl Resident {
    fn count(&mut self, by: RefusedBy, to: &str) {
        *self.refused.entry((by, to.to_string())).or_default() += 1;
    }
}

/// A notice to give: the first packet since the last one (where to, the turn it came
/// from), and how many more came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tell {
    pub to: String,
    pub turn: Option<String>,
    pub more: u64,
}

/// What to do about a drop just recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Telling {
    Tell(Tell),
    /// Kept for a telling after `Duration`: call `due` then (one call per quiet minute).
    Later(Duration),
    /// Kept; a telling is already due.
    Kept,
}

#[derive(Debug, Default)]
pub struct Record(Mutex<HashMap<String, Resident>>);

impl Record {
    /// The resident's entry for `round`, emptied when its round has moved on.
    fn with<T>(&self, resident: &str, round: u64, f: impl FnOnce(&mut Resident) -> T) -> T {
        let mut all = self.0.lock().expect("lock");
        let entry = all.entry(resident.to_string()).or_default();
        if entry.round != round {
            *entry = Resident {
                round,
                ..Resident::default()
            };
        }
        f(entry)
    }

    /// Whether a mayor opened `host` (as `host:port`) for the resident this round.
    pub fn holds(&self, resident: &str, round: u64, host: &str) -> bool {
        self.with(resident, round, |r| r.opened.contains(host))
    }

    pub fn open(&self, resident: &str, round: u64, host: &str) {
        self.with(resident, round, |r| r.opened.insert(host.to_string()));
    }

    /// A host the gate refused (not allowed, and no mayor said yes).
    pub fn refused(&self, resident: &str, round: u64, host: &str) {
        self.with(resident, round, |r| r.count(RefusedBy::Gate, host));
    }

    /// A packet the kernel dropped, at `now`, sent during `turn`: tell at once when the
    /// room has heard nothing for a minute, else keep it for the telling a minute after the
    /// last.
    pub fn dropped(
        &self,
        resident: &str,
        round: u64,
        to: &str,
        turn: Option<String>,
        now: Instant,
    ) -> Telling {
        self.with(resident, round, |r| {
            r.count(RefusedBy::Kernel, to);
            let this = Tell {
                to: to.to_string(),
                turn,
                more: 0,
            };
            match (r.told, &mut r.untold) {
                (Some(_), Some(untold)) => {
                    untold.more += 1;
                    Telling::Kept
                }
                (Some(t), None) if now.duration_since(t) < TELL_EVERY => {
                    r.untold = Some(this);
                    Telling::Later(TELL_EVERY - now.duration_since(t))
                }
                _ => {
                    r.told = Some(now);
                    Telling::Tell(this)
                }
            }
        })
    }

    /// The telling that was due: the drops kept since the last, if the round is the same.
    pub fn due(&self, resident: &str, round: u64, now: Instant) -> Option<Tell> {
        self.with(resident, round, |r| {
            let untold = r.untold.take()?;
            r.told = Some(now);
            Some(untold)
        })
    }

    /// (opened, refused most often first) this round.
    pub fn report(&self, resident: &str, round: u64) -> (Vec<String>, Vec<Refusal>) {
        self.with(resident, round, |r| {
            let mut refused: Vec<Refusal> = r
                .refused
                .iter()
                .map(|((by, to), times)| Refusal {
                    to: to.clone(),
                    by: *by,
                    times: *times,
                })
                .collect();
            refused.sort_by_key(|r| std::cmp::Reverse(r.times));
            (r.opened.iter().cloned().collect(), refused)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO: &str = "203.0.113.2 80/tcp";

    fn turn(unit: &str) -> Option<String> {
        Some(unit.to_string())
    }

    #[test]
    fn a_yes_holds_for_its_round_and_its_host_only() {
        let o = Record::default();
        o.open("ada", 3, "registry.npmjs.org:443");
        assert!(o.holds("ada", 3, "registry.npmjs.org:443"));
        assert!(!o.holds("ada", 3, "github.com:443"));
        assert!(!o.holds("vox", 3, "registry.npmjs.org:443"));
        assert!(!o.holds("ada", 4, "registry.npmjs.org:443"));
        o.open("ada", 4, "github.com:443");
        assert!(
            !o.holds("ada", 4, "registry.npmjs.org:443"),
            "a new round forgets"
        );
    }

    #[test]
    fn the_first_drop_is_told_and_the_rest_of_the_minute_once_after_it() {
        let r = Record::default();
        let t0 = Instant::now();
        assert_eq!(
            r.dropped("ada", 1, TO, turn("t1"), t0),
            Telling::Tell(Tell {
                to: TO.into(),
                turn: turn("t1"),
                more: 0
            })
        );
        let later = r.dropped(
            "ada",
            1,
            "203.0.113.2 53/udp",
            turn("t2"),
            t0 + Duration::from_secs(10),
        );
        assert_eq!(later, Telling::Later(Duration::from_secs(50)));
        assert_eq!(
            r.dropped("ada", 1, TO, None, t0 + Duration::from_secs(20)),
            Telling::Kept
        );
        let told = r.due("ada", 1, t0 + Duration::from_secs(60));
        assert_eq!(
            told,
            Some(Tell {
                to: "203.0.113.2 53/udp".into(),
                turn: turn("t2"),
                more: 1
            }),
            "the first kept drop is told, with its turn"
        );
        assert_eq!(r.due("ada", 1, t0 + Duration::from_secs(61)), None);
        // Another resident is told apart.
        assert!(matches!(
            r.dropped("vox", 1, TO, None, t0 + Duration::from_secs(61)),
            Telling::Tell(_)
        ));
        // A minute after the last telling, the next drop is told at once.
        assert!(matches!(
            r.dropped("ada", 1, TO, None, t0 + Duration::from_secs(121)),
            Telling::Tell(_)
        ));
    }

    #[test]
    fn the_report_counts_this_round_only_most_often_first() {
        let r = Record::default();
        let t0 = Instant::now();
        r.refused("ada", 1, "pypi.org:443");
        for _ in 0..3 {
            r.dropped("ada", 1, TO, None, t0);
        }
        let (opened, refused) = r.report("ada", 1);
        assert!(opened.is_empty());
        assert_eq!(
            refused,
            vec![
                Refusal {
                    to: TO.into(),
                    by: RefusedBy::Kernel,
                    times: 3
                },
                Refusal {
                    to: "pypi.org:443".into(),
                    by: RefusedBy::Gate,
                    times: 1
                },
            ]
        );
        assert_eq!(r.report("ada", 2), (vec![], vec![]), "a new round forgets");
        assert_eq!(
            r.due("ada", 2, t0),
            None,
            "an untold drop of an old round is not told"
        );
    }
}
