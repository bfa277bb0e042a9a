//! `townhall bench reset-town`: in a running town, the end-to-end wall time of a confirmed
//! `townhall reset --yes` as one resident's home grows, beside the walk of that home a
//! confirmed reset used to wait for before the new round began (`round::losses`, now read
//! from the retired round afterwards). It ends rounds: a bench town only.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use super::bench::ms;
use townhall::config::Town;

#[derive(Debug, Clone, serde::Serialize)]
pub struct TownRow {
    pub files: usize,
    /// `townhall reset --yes`, as a user at a terminal sees it, each run.
    pub end_to_end_ms: Vec<f64>,
    /// Of it, the reset itself (its report's `duration_ms`): levelling to the old round retired.
    pub reset_ms: Vec<f64>,
    /// Of that, the critical path: snapshot the blank, exchange, retire the old round.
    pub critical_ms: Vec<f64>,
    /// The walk of the home (git and files, by the helper) a confirmed reset no longer waits for.
    pub walk_ms: Vec<f64>,
}

/// The median of a run's figures (0 for none).
pub(super) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or_default()
}

/// Wait until the daemon has read and deleted every retired round (nothing of the last
/// run goes on in the background of the next).
pub(super) fn settled(town: &Town) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !townhall::round::retired(town, &townhall::round::Btrfs)?.is_empty() {
        ensure!(
            Instant::now() < deadline,
            "retired rounds are still there after 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

pub fn run(
    town: &Town,
    resident: &str,
    files: &[usize],
    runs: usize,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<TownRow>> {
    let r = town
        .resident(resident)
        .with_context(|| format!("no resident named `{resident}`"))?;
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    for &m in files {
        let mut row = TownRow {
            files: m,
            end_to_end_ms: vec![],
            reset_ms: vec![],
            critical_ms: vec![],
            walk_ms: vec![],
        };
        for i in 0..runs {
            settled(town)?;
            progress(&format!(
                "{m} files in {resident}'s home, run {}: filling",
                i + 1
            ));
            super::bench::fill_dir(&town.home(r).join("bench-fill"), m)?;
            Command::new("sync").status()?;
            let t = Instant::now();
            let lost = townhall::round::losses(town, r);
            row.walk_ms.push(ms(t.elapsed()));
            ensure!(
                lost.files.count >= m as u64 || lost.files.partial,
                "the walk saw {} files of {m}: {:?}",
                lost.files.count,
                lost.notes
            );
            Command::new("sync").status()?;
            progress("  townhall reset --yes");
            let t = Instant::now();
            let out = Command::new(&exe)
                .arg("--config")
                .arg(&town.dir)
                .args(["reset", "--yes", "--json", "--by", "bench"])
                .output()?;
            row.end_to_end_ms.push(ms(t.elapsed()));
            ensure!(
                out.status.success(),
                "townhall reset --yes: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).context("reading the reset's report")?;
            row.reset_ms
                .push(report["duration_ms"].as_f64().unwrap_or_default());
            row.critical_ms
                .push(report["critical_us"].as_f64().unwrap_or_default() / 1000.0);
        }
        rows.push(row);
    }
    settled(town)?;
    Ok(rows)
}
