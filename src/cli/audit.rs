//! `townhall audit`: the audit log asked a question — whose, since when, which kinds — and
//! answered as lines or JSON.

use std::process::ExitCode;

use anyhow::Context;
use townhall::audit::{self, Filter};
use townhall::config::Town;

/// What `townhall audit` was asked.
pub(super) struct Asked {
    pub resident: Option<String>,
    pub since: Option<String>,
    pub kinds: Vec<String>,
    pub last: Option<usize>,
    pub json: bool,
}

pub(super) fn run(town: &Town, a: Asked) -> anyhow::Result<ExitCode> {
    // Every part of the question checked before the log is read.
    let since = a
        .since
        .as_deref()
        .map(|s| audit::read::since(s, std::time::SystemTime::now()))
        .transpose()?;
    let kinds = a
        .kinds
        .iter()
        .map(|k| audit::read::kind(k))
        .collect::<Result<Vec<_>, _>>()?;
    let filter = Filter {
        resident: a.resident,
        since,
        kinds,
    };
    let (entries, unreadable) =
        audit::read::load(&town.state).context("reading the audit log (run as root)")?;
    if unreadable > 0 {
        eprintln!(
            "townhall: {unreadable} line(s) of {} are not entries and were skipped",
            town.state.join("audit.log").display()
        );
    }
    let picked = audit::read::select(entries, &filter, a.last);
    if a.json {
        super::print_json(&picked);
    } else {
        for e in &picked {
            println!("{}", audit::summary::line(e));
        }
    }
    Ok(ExitCode::SUCCESS)
}
