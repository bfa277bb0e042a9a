//! The user-manager seam and its zbus implementation.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zbus::zvariant::{OwnedValue, Value};

use crate::os::{OsContext, OsError, Recorder};

/// A transient service that runs one turn in a resident's user manager.
#[derive(Debug)]
pub struct TurnUnit {
    /// e.g. `townhall-turn-42.service`
    pub name: String,
    pub description: String,
    pub argv: Vec<String>,
    pub workdir: PathBuf,
    /// `KEY=value` pairs.
    pub environment: Vec<String>,
    pub environment_files: Vec<PathBuf>,
    /// Where the unit's stdin/stdout go (pipe ends); stderr goes to the journal.
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub runtime_max: Duration,
    pub memory_max: Option<u64>,
    pub cpu_percent: Option<u32>,
    pub tasks_max: Option<u64>,
}

pub trait UserManagers {
    /// Make the resident's user manager run without a login, and wait until it answers.
    fn linger(&self, uid: u32) -> impl Future<Output = Result<(), OsError>> + Send;
    fn start(&self, uid: u32, unit: TurnUnit) -> impl Future<Output = Result<(), OsError>> + Send;
    fn stop(&self, uid: u32, unit: &str) -> impl Future<Output = Result<(), OsError>> + Send;
}

/// The real thing: logind on the system bus, each user manager on its private socket.
pub struct SystemdUserManagers {
    system: zbus::Connection,
}

fn private_socket(uid: u32) -> PathBuf {
    PathBuf::from(format!("/run/user/{uid}/systemd/private"))
}

fn value<'a>(v: impl Into<Value<'a>>) -> Result<OwnedValue, OsError> {
    OwnedValue::try_from(v.into()).os(|| "encoding a unit property".into())
}

impl SystemdUserManagers {
    pub async fn connect() -> Result<Self, OsError> {
        let system = zbus::Connection::system().await.os(|| "connecting to the system bus".into())?;
        Ok(Self { system })
    }

    /// Root may speak to a user manager peer-to-peer on its private socket (no bus, no Hello).
    async fn manager(&self, uid: u32) -> Result<zbus_systemd::systemd1::ManagerProxy<'static>, OsError> {
        let path = private_socket(uid);
        let what = || format!("connecting to the user manager of uid {uid} at {}", path.display());
        let conn = zbus::connection::Builder::unix_stream(
            tokio::net::UnixStream::connect(&path).await.os(what)?,
        )
        .p2p()
        .build()
        .await
        .os(what)?;
        zbus_systemd::systemd1::ManagerProxy::new(&conn).await.os(what)
    }

    fn properties(unit: TurnUnit) -> Result<Vec<(String, OwnedValue)>, OsError> {
        let program = unit.argv.first().cloned().unwrap_or_default();
        let mut p = vec![
            ("Description".to_string(), value(unit.description)?),
            ("ExecStart".into(), value(vec![(program, unit.argv, false)])?),
            ("WorkingDirectory".into(), value(unit.workdir.display().to_string())?),
            ("Environment".into(), value(unit.environment)?),
            ("RuntimeMaxUSec".into(), value(unit.runtime_max.as_micros() as u64)?),
            ("CollectMode".into(), value("inactive-or-failed")?),
            ("StandardError".into(), value("journal")?),
        ];
        let files: Vec<(String, bool)> =
            unit.environment_files.iter().map(|f| (f.display().to_string(), false)).collect();
        p.push(("EnvironmentFiles".into(), value(files)?));
        if let Some(fd) = unit.stdin {
            p.push(("StandardInputFileDescriptor".into(), value(zbus::zvariant::Fd::from(fd))?));
        }
        if let Some(fd) = unit.stdout {
            p.push(("StandardOutputFileDescriptor".into(), value(zbus::zvariant::Fd::from(fd))?));
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

impl UserManagers for SystemdUserManagers {
    async fn linger(&self, uid: u32) -> Result<(), OsError> {
        let what = || format!("enabling linger for uid {uid}");
        let login = zbus_systemd::login1::ManagerProxy::new(&self.system).await.os(what)?;
        login.set_user_linger(uid, true, false).await.os(what)?;
        let socket = private_socket(uid);
        for _ in 0..300 {
            if Path::new(&socket).exists() && self.manager(uid).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(OsError::new(what(), format!("the user manager did not come up ({} is missing)", socket.display())))
    }

    async fn start(&self, uid: u32, unit: TurnUnit) -> Result<(), OsError> {
        let name = unit.name.clone();
        let what = || format!("starting {name} for uid {uid}");
        let manager = self.manager(uid).await?;
        let props = Self::properties(unit)?;
        manager.start_transient_unit(name.clone(), "fail".into(), props, vec![]).await.os(what)?;
        Ok(())
    }

    async fn stop(&self, uid: u32, unit: &str) -> Result<(), OsError> {
        let manager = self.manager(uid).await?;
        manager
            .stop_unit(unit.to_string(), "replace".into())
            .await
            .os(|| format!("stopping {unit} for uid {uid}"))?;
        Ok(())
    }
}

/// Records what would have been started and stopped.
#[derive(Debug, Default)]
pub struct FakeUserManagers {
    pub calls: Recorder,
}

impl UserManagers for FakeUserManagers {
    async fn linger(&self, uid: u32) -> Result<(), OsError> {
        self.calls.record(format!("linger {uid}"));
        Ok(())
    }

    async fn start(&self, uid: u32, unit: TurnUnit) -> Result<(), OsError> {
        self.calls.record(format!("start {uid} {} {:?}", unit.name, unit.argv));
        Ok(())
    }

    async fn stop(&self, uid: u32, unit: &str) -> Result<(), OsError> {
        self.calls.record(format!("stop {uid} {unit}"));
        Ok(())
    }
}
