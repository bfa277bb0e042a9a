//! The round counter, the last reset's report and the audit log, in root's state dir.
//!
//! Spending, budgets and the reset's numbering are keyed by the round, so a counter that
//! cannot be read is an error that names the file; it never reads as round 0 (which would
//! number the next round 1 again and merge two rounds' spending).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ResetReport;
use crate::os::OsError;

pub struct RoundState {
    dir: PathBuf,
}

/// Why the round counter cannot be read; each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoundFileError {
    #[error(
        "{path} is missing, yet this town has had rounds ({evidence} is there)\n  help: write the round the town is in into it, e.g. `echo {hint} > {path}` ({evidence} says round {hint}); restarting townhall records it from the live subvolume when that knows it"
    )]
    Missing {
        path: PathBuf,
        evidence: PathBuf,
        hint: String,
    },
    #[error(
        "{path} holds {found:?}, not a round number\n  help: write the round the town is in into it, e.g. `echo {hint} > {path}`; restarting townhall records it from the live subvolume when that knows it"
    )]
    Corrupt {
        path: PathBuf,
        found: String,
        hint: String,
    },
    #[error(
        "{path} does not parse ({detail})\n  help: it holds the rounds each resident ended alone, as {{\"NAME\": COUNT}}; fix it, or remove it to count every resident's rounds as the town's"
    )]
    CorruptAlone { path: PathBuf, detail: String },
    #[error(
        "cannot read {path}: {detail}\n  help: check the state dir's owner and mode (root, 0700)"
    )]
    Unreadable { path: PathBuf, detail: String },
}

impl From<RoundFileError> for OsError {
    fn from(e: RoundFileError) -> Self {
        OsError::new("reading the round counter", e)
    }
}

impl RoundState {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("round")
    }

    /// The rounds ended so far: 0 only for a town that has never been reset.
    pub fn round(&self) -> Result<u64, RoundFileError> {
        let path = self.path();
        // The last reset's report is the best guess a help text can offer.
        let hint = || {
            self.last()
                .map_or_else(|| "N".to_string(), |r| r.round.to_string())
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse().map_err(|_| RoundFileError::Corrupt {
                found: text.chars().take(40).collect(),
                path,
                hint: hint(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match ["last-reset.json", "audit.log"]
                    .map(|f| self.dir.join(f))
                    .into_iter()
                    .find(|p| p.exists())
                {
                    None => Ok(0),
                    Some(evidence) => Err(RoundFileError::Missing {
                        path,
                        evidence,
                        hint: hint(),
                    }),
                }
            }
            Err(e) => Err(RoundFileError::Unreadable {
                path,
                detail: e.to_string(),
            }),
        }
    }

    /// Write the new round number, keep the report as last-reset.json, and append it to
    /// audit.log (one JSON object a line).
    pub fn record(&self, report: &ResetReport) -> Result<(), OsError> {
        self.set_round(report.round)?;
        let json = serde_json::to_vec_pretty(report)
            .map_err(|e| OsError::new("encoding the reset report", e))?;
        crate::os::write_atomic(&self.dir.join("last-reset.json"), &json)?;
        crate::audit::append(&self.dir, "reset", report)
    }

    pub fn set_round(&self, round: u64) -> Result<(), OsError> {
        crate::os::write_atomic(&self.path(), format!("{round}\n").as_bytes())
    }

    /// The report of the last reset, when there was one.
    pub fn last(&self) -> Option<ResetReport> {
        serde_json::from_slice(&std::fs::read(self.dir.join("last-reset.json")).ok()?).ok()
    }

    /// Rounds each resident ended alone (`townhall reset NAME`), on top of the town's.
    fn alone(&self) -> Result<BTreeMap<String, u64>, RoundFileError> {
        let path = self.dir.join("rounds-alone.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| RoundFileError::CorruptAlone {
                path,
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(RoundFileError::Unreadable {
                path,
                detail: e.to_string(),
            }),
        }
    }

    /// The round `resident` is in: every town round, and each of its own resets. So a
    /// resident's rounds only ever go up, and one reset alone begins its own spending and
    /// budget without touching another's.
    pub fn round_of(&self, resident: &str) -> Result<u64, RoundFileError> {
        Ok(self.round()? + self.alone()?.get(resident).copied().unwrap_or(0))
    }

    /// Record that `resident` began round `round` alone (idempotent: recovery may repeat it).
    pub fn set_round_of(&self, resident: &str, round: u64) -> Result<(), OsError> {
        let town = self.round().map_err(OsError::from)?;
        let mut alone = self.alone().map_err(OsError::from)?;
        alone.insert(resident.to_string(), round.saturating_sub(town));
        let json = serde_json::to_vec_pretty(&alone)
            .map_err(|e| OsError::new("encoding the residents' rounds", e))?;
        crate::os::write_atomic(&self.dir.join("rounds-alone.json"), &json)
    }

    fn home_report(&self, resident: &str) -> PathBuf {
        self.dir.join(format!("last-reset-{resident}.json"))
    }

    /// Record a reset of the residents in `report.rounds` alone: each one's round and report.
    pub fn record_alone(&self, report: &ResetReport) -> Result<(), OsError> {
        let json = serde_json::to_vec_pretty(report)
            .map_err(|e| OsError::new("encoding the reset report", e))?;
        for (name, round) in &report.rounds {
            self.set_round_of(name, *round)?;
            crate::os::write_atomic(&self.home_report(name), &json)?;
        }
        crate::audit::append(&self.dir, "reset", report)
    }

    /// The last reset of `resident` alone, when there was one.
    pub fn own_last(&self, resident: &str) -> Option<ResetReport> {
        serde_json::from_slice(&std::fs::read(self.home_report(resident)).ok()?).ok()
    }

    /// The last reset that ended `resident`'s round: the town's or its own, whichever came
    /// later.
    pub fn last_of(&self, resident: &str) -> Option<ResetReport> {
        match (self.last(), self.own_last(resident)) {
            (Some(town), Some(own)) if town.started > own.started => Some(town),
            (town, None) => town,
            (_, own) => own,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_town_is_round_0_and_a_lost_or_garbled_counter_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = RoundState::new(dir.path());
        assert_eq!(state.round(), Ok(0));
        state.set_round(7).unwrap();
        assert_eq!(state.round(), Ok(7));

        std::fs::write(dir.path().join("round"), "seven\n").unwrap();
        let e = state.round().unwrap_err();
        assert!(matches!(e, RoundFileError::Corrupt { .. }), "{e}");
        assert!(
            e.to_string()
                .contains(&dir.path().join("round").display().to_string())
        );

        std::fs::remove_file(dir.path().join("round")).unwrap();
        std::fs::write(dir.path().join("audit.log"), "{}\n").unwrap();
        let e = state.round().unwrap_err();
        assert!(matches!(e, RoundFileError::Missing { .. }), "{e}");
        assert!(e.to_string().contains("help: write the round"), "{e}");
    }

    #[test]
    fn a_residents_round_counts_the_towns_and_its_own_and_only_goes_up() {
        let dir = tempfile::tempdir().unwrap();
        let state = RoundState::new(dir.path());
        state.set_round(5).unwrap();
        assert_eq!(state.round_of("ada"), Ok(5));
        let report = ResetReport {
            rounds: [("ada".to_string(), 6)].into(),
            started: "2026-12-03T10:00:00Z".into(),
            ..ResetReport::default()
        };
        state.record_alone(&report).unwrap();
        state.record_alone(&report).unwrap();
        assert_eq!(state.round_of("ada"), Ok(6), "recorded twice, counted once");
        assert_eq!(state.round_of("vox"), Ok(5));
        assert_eq!(state.round(), Ok(5), "the town's round is the town's");
        assert_eq!(state.last_of("ada").unwrap().rounds["ada"], 6);
        state
            .record(&ResetReport {
                round: 6,
                started: "2026-12-03T11:00:00Z".into(),
                ..ResetReport::default()
            })
            .unwrap();
        assert_eq!(state.round_of("ada"), Ok(7), "a town round ends hers too");
        assert_eq!(state.round_of("vox"), Ok(6));
        assert_eq!(state.last_of("ada").unwrap().round, 6, "the town's, later");
    }
}
