//! A turn's transient unit as the properties its user manager is asked for: what it runs,
//! where, with which descriptors and limits, and the hardening a user manager can apply.

use zbus::zvariant::{OwnedValue, Value};

use super::SystemdUserManagers;
use crate::os::{OsContext, OsError};
use crate::units::TurnUnit;

fn value<'a>(v: impl Into<Value<'a>>) -> Result<OwnedValue, OsError> {
    OwnedValue::try_from(v.into()).os(|| "encoding a unit property".into())
}

impl SystemdUserManagers {
    pub(super) fn properties(unit: TurnUnit) -> Result<Vec<(String, OwnedValue)>, OsError> {
        let program = unit.argv.first().cloned().unwrap_or_default();
        let mut p = vec![
            ("Description".to_string(), value(unit.description)?),
            (
                "ExecStart".into(),
                value(vec![(program, unit.argv, false)])?,
            ),
            (
                "WorkingDirectory".into(),
                value(unit.workdir.display().to_string())?,
            ),
            ("Environment".into(), value(unit.environment)?),
            (
                "RuntimeMaxUSec".into(),
                value(unit.runtime_max.as_micros() as u64)?,
            ),
            ("CollectMode".into(), value("inactive-or-failed")?),
            // Keeps the unit (and its exit status) until this connection lets go of it.
            ("AddRef".into(), value(true)?),
            // Hardening that works in a user manager without user namespaces. The resident
            // could undo it in its own manager; PID 1 holds the same on user@UID.service.
            ("NoNewPrivileges".into(), value(true)?),
            ("UMask".into(), value(0o077u32)?),
            ("RestrictSUIDSGID".into(), value(true)?),
            ("KeyringMode".into(), value("private")?),
            ("LockPersonality".into(), value(true)?),
            ("RestrictRealtime".into(), value(true)?),
        ];
        let files: Vec<(String, bool)> = unit
            .environment_files
            .iter()
            .map(|f| (f.display().to_string(), false))
            .collect();
        p.push(("EnvironmentFiles".into(), value(files)?));
        if let Some(fd) = unit.stdin {
            p.push((
                "StandardInputFileDescriptor".into(),
                value(zbus::zvariant::Fd::from(fd))?,
            ));
        }
        if let Some(fd) = unit.stdout {
            p.push((
                "StandardOutputFileDescriptor".into(),
                value(zbus::zvariant::Fd::from(fd))?,
            ));
        }
        match unit.stderr {
            Some(fd) => p.push((
                "StandardErrorFileDescriptor".into(),
                value(zbus::zvariant::Fd::from(fd))?,
            )),
            None => p.push(("StandardError".into(), value("journal")?)),
        }
        if let Some(m) = unit.memory_max {
            p.push(("MemoryMax".into(), value(m)?));
        }
        if let Some(c) = unit.cpu_percent {
            p.push(("CPUQuotaPerSecUSec".into(), value(u64::from(c) * 10_000)?));
        }
        if let Some(t) = unit.tasks_max {
            p.push(("TasksMax".into(), value(t)?));
        }
        Ok(p)
    }
}
