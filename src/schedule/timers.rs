//! The schedules as PID 1 timers: unit files in /run (gone at boot, written again at each
//! start), the stale ones stopped and removed, the wanted ones started. `systemctl
//! list-timers` shows them; PID 1 keeps each one's last run, so one missed while the
//! daemon was stopped runs once when it starts again.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Entry, UNIT_PREFIX, service_unit, timer_unit};
use crate::os::OsError;

/// Where runtime units live: PID 1 reads them, and a reboot forgets them.
pub const UNIT_DIR: &str = "/run/systemd/system";

/// The seam: make PID 1's timers exactly `wanted`.
pub trait Timers: Send + Sync {
    fn apply(&self, wanted: &[Entry]) -> Result<(), OsError>;
}

/// The host's PID 1, through unit files and D-Bus.
pub struct HostTimers;

/// The schedule units written in `dir`, by name without the suffix.
fn written(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(UNIT_PREFIX))
        .filter_map(|n| {
            n.strip_suffix(".timer")
                .or_else(|| n.strip_suffix(".service"))
                .map(String::from)
        })
        .collect()
}

impl Timers for HostTimers {
    fn apply(&self, wanted: &[Entry]) -> Result<(), OsError> {
        let dir = Path::new(UNIT_DIR);
        let exe =
            std::env::current_exe().map_err(|e| OsError::new("finding townhall's binary", e))?;
        let mut changed = false;
        for e in wanted {
            let unit = e.unit();
            changed |= crate::os::write_if_changed(
                &dir.join(format!("{unit}.timer")),
                &timer_unit(e),
                0o644,
            )?;
            changed |= crate::os::write_if_changed(
                &dir.join(format!("{unit}.service")),
                &service_unit(e, &exe),
                0o644,
            )?;
        }
        let keep: BTreeSet<String> = wanted.iter().map(Entry::unit).collect();
        let stale: Vec<String> = written(dir).difference(&keep).cloned().collect();
        for unit in &stale {
            for suffix in ["timer", "service"] {
                let path = dir.join(format!("{unit}.{suffix}"));
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(OsError::new(format!("removing {}", path.display()), e));
                    }
                    _ => changed = true,
                }
            }
        }
        // A removed schedule's service too: one its timer fired a moment before keeps both
        // units loaded (and listed) until it is done.
        let stop: Vec<String> = stale
            .iter()
            .flat_map(|u| [format!("{u}.timer"), format!("{u}.service")])
            .collect();
        let start: Vec<String> = keep.iter().map(|u| format!("{u}.timer")).collect();
        let (stop, start): (Vec<&str>, Vec<&str>) = (
            stop.iter().map(String::as_str).collect(),
            start.iter().map(String::as_str).collect(),
        );
        crate::level::restart_timers(&stop, changed, &start)
    }
}
