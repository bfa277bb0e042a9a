//! The round counter, the last reset's report and the audit log, in root's state dir.
//!
//! Spending, budgets and the reset's numbering are keyed by the round, so a counter that
//! cannot be read is an error that names the file; it never reads as round 0 (which would
//! number the next round 1 again and merge two rounds' spending).

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
}
