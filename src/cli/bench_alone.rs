//! `townhall bench reset-alone`: in a running town, one resident's home of many files reset
//! alone (`townhall reset NAME --yes`) while another resident's turn streams a line every
//! 10 ms: the reset's critical path (make the new home, exchange, retire the old one) and
//! the longest pause in the other turn's stream around it, beside the longest pause before
//! it. Beside them, in the same run, the town's reset of the same home — the only way
//! before, which ends the other resident's turn too. It ends rounds: a bench town only.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use super::bench::ms;
use townhall::config::Town;
use townhall::control::{Request, Response};
use townhall::turn::TurnEvent;

#[derive(Debug, Clone, serde::Serialize)]
pub struct AloneRow {
    pub files: usize,
    /// The reset alone's critical path, each run.
    pub critical_ms: Vec<f64>,
    /// The reset alone, levelling to the old home retired (its report's duration).
    pub reset_ms: Vec<f64>,
    /// The longest pause between two lines of the streaming turn that overlaps the reset.
    pub stall_ms: Vec<f64>,
    /// The longest pause between two of its lines before the reset began.
    pub calm_ms: Vec<f64>,
    /// The town's reset of the same home: its critical path (it ends the streaming turn).
    pub town_critical_ms: Vec<f64>,
}

/// `townhall reset ARGS --yes --json`: its report.
fn reset(town: &Town, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(std::env::current_exe()?)
        .arg("--config")
        .arg(&town.dir)
        .arg("reset")
        .args(args)
        .args(["--yes", "--json", "--by", "bench"])
        .output()?;
    ensure!(
        out.status.success(),
        "townhall reset {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).context("reading the reset's report")
}

/// The longest gap between consecutive arrivals that `within` keeps (by its two ends).
fn longest(at: &[Instant], within: impl Fn(Instant, Instant) -> bool) -> f64 {
    at.windows(2)
        .filter(|w| within(w[0], w[1]))
        .map(|w| ms(w[1] - w[0]))
        .fold(0.0, f64::max)
}

/// One run: `streamer` streams while `resident` is reset alone; (critical, reset, stall, calm).
fn one(town: &Town, resident: &str, streamer: &str) -> anyhow::Result<[f64; 4]> {
    let s = town
        .resident(streamer)
        .with_context(|| format!("no resident named `{streamer}`"))?;
    let stop = town.home(s).join("ticks-stop");
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = arrivals.clone();
    let turn = Request::Turn {
        resident: streamer.into(),
        conversation: "bench-reset-alone".into(),
        prompt: "ticks fast".into(),
        fresh: true,
    };
    let stream = std::thread::spawn(move || {
        super::ask(&turn, |r| {
            if let Response::Event(TurnEvent::Text { .. }) = r {
                seen.lock().expect("lock").push(Instant::now());
            }
        })
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrivals.lock().expect("lock").len() < 100 {
        ensure!(
            Instant::now() < deadline && !stream.is_finished(),
            "{streamer}'s turn did not stream (its CLI must answer `ticks fast`, as the test stand-in does)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let began = Instant::now();
    let report = reset(town, &[resident]);
    let ended = Instant::now();
    // As long again after it, so that a pause the reset caused shows whole.
    std::thread::sleep((ended - began).max(Duration::from_millis(500)));
    std::fs::write(&stop, b"")?;
    let streamed = stream
        .join()
        .map_err(|_| anyhow::anyhow!("the stream's thread"))?;
    let report = report?;
    ensure!(streamed.is_ok(), "{streamer}'s turn failed: {streamed:?}");
    let at = arrivals.lock().expect("lock").clone();
    let stall = longest(&at, |a, b| b > began && a < ended);
    let calm = longest(&at, |_, b| b <= began);
    Ok([
        report["critical_us"].as_f64().unwrap_or_default() / 1000.0,
        report["duration_ms"].as_f64().unwrap_or_default(),
        stall,
        calm,
    ])
}

pub fn run(
    town: &Town,
    resident: &str,
    streamer: &str,
    files: &[usize],
    runs: usize,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<AloneRow>> {
    let r = town
        .resident(resident)
        .with_context(|| format!("no resident named `{resident}`"))?;
    let mut rows = Vec::new();
    for &m in files {
        let mut row = AloneRow {
            files: m,
            critical_ms: vec![],
            reset_ms: vec![],
            stall_ms: vec![],
            calm_ms: vec![],
            town_critical_ms: vec![],
        };
        for i in 0..runs {
            super::bench_town::settled(town)?;
            progress(&format!(
                "{m} files in {resident}'s home, run {}: filling",
                i + 1
            ));
            super::bench::fill_dir(&town.home(r).join("bench-fill"), m)?;
            Command::new("sync").status()?;
            progress(&format!(
                "  townhall reset {resident} while {streamer} streams"
            ));
            let [critical, reset_ms, stall, calm] = one(town, resident, streamer)?;
            row.critical_ms.push(critical);
            row.reset_ms.push(reset_ms);
            row.stall_ms.push(stall);
            row.calm_ms.push(calm);
            super::bench_town::settled(town)?;
            super::bench::fill_dir(&town.home(r).join("bench-fill"), m)?;
            Command::new("sync").status()?;
            progress("  the town's reset of the same home");
            let report = reset(town, &[])?;
            row.town_critical_ms
                .push(report["critical_us"].as_f64().unwrap_or_default() / 1000.0);
        }
        rows.push(row);
    }
    super::bench_town::settled(town)?;
    Ok(rows)
}
