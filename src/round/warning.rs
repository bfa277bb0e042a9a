//! What a reset could not do for one resident, typed: the rooms get each resident's own
//! lines by its name, never by cutting a "name: " prefix off a sentence.

use std::fmt;
use std::path::PathBuf;

use super::ResetReport;

/// One thing a person should look at after a reset, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetWarning {
    pub resident: String,
    pub trouble: Trouble,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// The home could not be built: it stays root-only until the next reset.
    HomeNotBuilt(String),
    /// A persisted entry was not what the config declares, so it was moved aside.
    MovedAside {
        path: PathBuf,
        found: String,
        moved_to: PathBuf,
    },
    /// A process of the old round that SIGKILL did not end.
    Outlived {
        pid: u32,
        command: String,
        state: String,
    },
    /// A levelling step that failed.
    Levelling(String),
}

impl fmt::Display for Trouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trouble::HomeNotBuilt(why) => write!(f, "home not built: {why}"),
            Trouble::MovedAside {
                path,
                found,
                moved_to,
            } => write!(
                f,
                "{} was {found}: moved to {}",
                path.display(),
                moved_to.display()
            ),
            Trouble::Outlived {
                pid,
                command,
                state,
            } => write!(f, "process {pid} ({command}) outlived SIGKILL: {state}"),
            Trouble::Levelling(problem) => f.write_str(problem),
        }
    }
}

impl fmt::Display for ResetWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.resident, self.trouble)
    }
}

impl ResetReport {
    /// One per thing a person should look at: homes not built, quarantined entries,
    /// processes that outlived the kill, levelling steps that failed.
    pub fn warnings(&self) -> Vec<ResetWarning> {
        let warn = |resident: &str, trouble| ResetWarning {
            resident: resident.to_string(),
            trouble,
        };
        let mut w: Vec<_> = self
            .degraded
            .iter()
            .map(|(r, why)| warn(r, Trouble::HomeNotBuilt(why.clone())))
            .collect();
        for q in &self.quarantined {
            let path = format!("/persist/{}/{}", q.resident, q.path.display()).into();
            w.push(warn(
                &q.resident,
                Trouble::MovedAside {
                    path,
                    found: q.found.clone(),
                    moved_to: q.moved_to.clone(),
                },
            ));
        }
        for (r, l) in &self.levelled {
            for s in &l.survivors {
                w.push(warn(
                    r,
                    Trouble::Outlived {
                        pid: s.pid,
                        command: s.command.clone(),
                        state: s.state.clone(),
                    },
                ));
            }
            for p in &l.problems {
                w.push(warn(r, Trouble::Levelling(p.clone())));
            }
        }
        w
    }

    /// What this reset could not do for `resident`, one line each, for its rooms.
    pub fn troubles_of(&self, resident: &str) -> Vec<String> {
        self.warnings()
            .into_iter()
            .filter(|w| w.resident == resident)
            .map(|w| w.trouble.to_string())
            .collect()
    }
}
