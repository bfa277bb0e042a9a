//! `townhall usage`: spending per day from the audit log — a table, the chart as SVG (the
//! same drawing `!usage` sends as a PNG), or the figures as JSON.

use std::process::ExitCode;

use anyhow::Context;
use townhall::audit;
use townhall::config::Town;

/// What `townhall usage` was asked.
pub(super) struct Asked {
    pub resident: Option<String>,
    pub days: u32,
    pub svg: bool,
    pub json: bool,
}

pub(super) fn run(town: &Town, a: Asked) -> anyhow::Result<ExitCode> {
    let most = townhall_wire::hall::MAX_USAGE_DAYS;
    anyhow::ensure!(
        (1..=most).contains(&a.days),
        "--days is 1 to {most}, not {}",
        a.days
    );
    if let Some(r) = &a.resident {
        anyhow::ensure!(
            town.resident(r).is_some(),
            "no resident named `{r}` (see `townhall resident list`)"
        );
    }
    let (entries, _) =
        audit::read::load(&town.state).context("reading the audit log (run as root)")?;
    let now = std::time::SystemTime::now();
    let days = audit::usage::per_day(&entries, a.resident.as_deref(), a.days, now);
    let whose = a.resident.as_deref().unwrap_or("the town");
    if a.json {
        super::print_json(&days);
    } else if a.svg {
        let title = format!("{whose}, last {} days", a.days);
        print!("{}", townhall_chart::svg(&title, &days)?);
    } else {
        println!(
            "{:<10}  {:>6}  {:>12}  {:>10}",
            "day", "turns", "tokens", "cost"
        );
        for d in &days {
            let cost = townhall_wire::hall::dollars(d.usd);
            println!(
                "{:<10}  {:>6}  {:>12}  {:>10}",
                d.date, d.turns, d.tokens, cost
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
