//! systemd's own reading of a calendar spec (`systemd-analyze calendar`), so what townhall
//! takes is exactly what `OnCalendar=` will: no second parser to disagree with PID 1.

use std::process::Command;

/// When a spec next elapses, as systemd says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    At(String),
    /// It names only times that have passed.
    Never,
}

/// How systemd reads `spec`: its next elapse, or why it is not a calendar spec. Err(None)
/// when systemd-analyze cannot be run here (a build sandbox): nothing could be judged.
pub fn read(spec: &str) -> Result<Next, Option<String>> {
    townhall_config::schedule::spec(spec).map_err(Some)?;
    let out = Command::new("systemd-analyze")
        .args(["calendar", "--iterations=1", "--", spec])
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| {
            tracing::warn!("cannot run systemd-analyze, so calendar specs are not checked: {e}");
            None
        })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().next().unwrap_or("").trim();
        return Err(Some(format!(
            "systemd does not read `{spec}` as a calendar spec ({why})"
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let next = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Next elapse:"))
        .map(str::trim)
        .unwrap_or("never");
    Ok(match next {
        "never" => Next::Never,
        at => Next::At(at.to_string()),
    })
}

/// For the config: a spec systemd cannot read is an error; one that never elapses again
/// (a date that has passed) is not, as a one-off that has fired must not stop the town.
pub fn check(spec: &str) -> Result<(), String> {
    match read(spec) {
        Ok(_) | Err(None) => Ok(()),
        Err(Some(why)) => Err(why),
    }
}

/// The config, with every schedule's calendar spec read by systemd.
pub fn load(dir: &std::path::Path) -> Result<crate::config::Town, crate::config::Diagnostics> {
    crate::config::load_checked(dir, &check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_reads_specs_as_oncalendar_does() {
        if Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_err()
        {
            return;
        }
        assert!(matches!(read("Mon..Fri 07:00"), Ok(Next::At(_))));
        assert!(matches!(read("*:*:0/10"), Ok(Next::At(_))));
        assert_eq!(read("2001-01-01 10:00"), Ok(Next::Never));
        let e = read("whenever 7").unwrap_err().unwrap();
        assert!(e.contains("`whenever 7`"), "{e}");
        // Never handed to systemd-analyze as an option.
        assert!(read("--help").is_err());
        assert!(check("2001-01-01").is_ok() && check("bogus").is_err());
    }
}
