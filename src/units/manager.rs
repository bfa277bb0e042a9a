//! The user-manager seam and its zbus implementation.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
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
    /// Pipe ends for the unit's stdin/stdout/stderr; without one, the journal gets it.
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    pub runtime_max: Duration,
    pub memory_max: Option<u64>,
    pub cpu_percent: Option<u32>,
    pub tasks_max: Option<u64>,
}

/// How a turn's unit ended, as its manager reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnitEnd {
    /// systemd's `Result`: success, exit-code, signal, timeout, oom-kill, …
    pub result: String,
    /// The main process's exit status (or signal number when `result` is `signal`).
    pub status: i32,
}

pub trait UserManagers {
    /// Make the resident's user manager run without a login, and wait until it answers.
    fn linger(&self, uid: u32) -> impl Future<Output = Result<(), OsError>> + Send;
    /// Start the unit in the resident's manager and wait until it has ended.
    fn run(&self, uid: u32, unit: TurnUnit) -> impl Future<Output = Result<UnitEnd, OsError>> + Send;
    fn stop(&self, uid: u32, unit: &str) -> impl Future<Output = Result<(), OsError>> + Send;
}

/// The real thing: logind on the system bus, each user manager on its resident's session bus.
pub struct SystemdUserManagers {
    system: zbus::Connection,
}

fn bus_socket(uid: u32) -> PathBuf {
    PathBuf::from(format!("/run/user/{uid}/bus"))
}

/// `connect()` with the resident's effective uid and gid, on a thread of its own: the raw
/// setresuid/setresgid syscalls change only the calling thread (glibc's wrappers would
/// change every thread of the supervisor).
fn connect_as(uid: u32, path: &Path) -> std::io::Result<std::os::unix::net::UnixStream> {
    let path = path.to_owned();
    std::thread::spawn(move || {
        let keep = u32::MAX; // -1: leave that id as it is
        let set = |nr: libc::c_long, id: u32| -> std::io::Result<()> {
            // SAFETY: plain syscalls with integer arguments; they affect only this thread.
            let r = unsafe { libc::syscall(nr, keep, id, keep) };
            if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
        };
        set(libc::SYS_setresgid, uid)?;
        if let Err(e) = set(libc::SYS_setresuid, uid) {
            set(libc::SYS_setresgid, 0)?;
            return Err(e);
        }
        let stream = std::os::unix::net::UnixStream::connect(&path);
        // Back to root before anything else runs on this thread; if that failed, the thread
        // ends here and takes the lowered credentials with it.
        set(libc::SYS_setresuid, 0)?;
        set(libc::SYS_setresgid, 0)?;
        stream
    })
    .join()
    .map_err(|_| std::io::Error::other("the connecting thread panicked"))?
}

fn value<'a>(v: impl Into<Value<'a>>) -> Result<OwnedValue, OsError> {
    OwnedValue::try_from(v.into()).os(|| "encoding a unit property".into())
}

impl SystemdUserManagers {
    pub async fn connect() -> Result<Self, OsError> {
        let system = zbus::Connection::system().await.os(|| "connecting to the system bus".into())?;
        Ok(Self { system })
    }

    /// The resident's own session bus, where its user manager is `org.freedesktop.systemd1`.
    /// dbus-daemon admits only the bus owner's uid, so the socket is connected from a thread
    /// that takes the resident's effective uid for that one `connect` (SO_PEERCRED records
    /// it) and then returns to root. (The manager's private socket admits root, but zbus
    /// panics on the signals systemd sends there with a well-known name as sender.)
    async fn user_bus(&self, uid: u32) -> Result<zbus::Connection, OsError> {
        let path = PathBuf::from(format!("/run/user/{uid}/bus"));
        let what = || format!("connecting to the session bus of uid {uid} at /run/user/{uid}/bus");
        let stream = tokio::task::spawn_blocking(move || connect_as(uid, &path)).await.os(what)?.os(what)?;
        stream.set_nonblocking(true).os(what)?;
        let stream = tokio::net::UnixStream::from_std(stream).os(what)?;
        zbus::connection::Builder::unix_stream(stream).user_id(uid).build().await.os(what)
    }

    async fn manager(&self, uid: u32) -> Result<zbus_systemd::systemd1::ManagerProxy<'static>, OsError> {
        let conn = self.user_bus(uid).await?;
        zbus_systemd::systemd1::ManagerProxy::new(&conn).await.os(|| format!("the user manager of uid {uid}"))
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
            // Keeps the unit (and its exit status) until this connection lets go of it.
            ("AddRef".into(), value(true)?),
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
        match unit.stderr {
            Some(fd) => p.push(("StandardErrorFileDescriptor".into(), value(zbus::zvariant::Fd::from(fd))?)),
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

impl UserManagers for SystemdUserManagers {
    async fn linger(&self, uid: u32) -> Result<(), OsError> {
        let what = || format!("enabling linger for uid {uid}");
        let login = zbus_systemd::login1::ManagerProxy::new(&self.system).await.os(what)?;
        login.set_user_linger(uid, true, false).await.os(what)?;
        let socket = bus_socket(uid);
        for _ in 0..300 {
            if Path::new(&socket).exists() && self.manager(uid).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(OsError::new(what(), format!("the user manager did not come up ({} is missing)", socket.display())))
    }

    async fn run(&self, uid: u32, unit: TurnUnit) -> Result<UnitEnd, OsError> {
        use zbus::proxy::CacheProperties;
        use zbus_systemd::systemd1::{ServiceProxy, UnitProxy};
        let name = unit.name.clone();
        let what = || format!("running {name} for uid {uid}");
        // One connection for the whole turn: the unit's reference lives as long as it does.
        let conn = self.user_bus(uid).await?;
        let manager = zbus_systemd::systemd1::ManagerProxy::new(&conn).await.os(what)?;
        let props = Self::properties(unit)?;
        // Ask the manager for its signals before the unit exists, so no change is missed.
        manager.subscribe().await.os(what)?;
        manager.start_transient_unit(name.clone(), "fail".into(), props, vec![]).await.os(what)?;
        let path = manager.get_unit(name.clone()).await.os(what)?;
        let unit = UnitProxy::builder(&conn).path(path.clone()).os(what)?.build().await.os(what)?;
        let service = ServiceProxy::builder(&conn).path(path).os(what)?.cache_properties(CacheProperties::No).build().await.os(what)?;
        // The end comes as a PropertiesChanged signal on ActiveState; a slow re-read
        // guards against a change that raced the subscription.
        let mut changes = unit.receive_active_state_changed().await;
        loop {
            let state = unit.active_state().await.os(what)?;
            if state == "inactive" || state == "failed" {
                break;
            }
            tokio::select! {
                _ = changes.next() => {}
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
        let end = UnitEnd { result: service.result().await.os(what)?, status: service.exec_main_status().await.os(what)? };
        let _ = unit.unref().await; // now collect-mode removes it
        Ok(end)
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

    async fn run(&self, uid: u32, unit: TurnUnit) -> Result<UnitEnd, OsError> {
        self.calls.record(format!("run {uid} {} {:?}", unit.name, unit.argv));
        Ok(UnitEnd { result: "success".into(), status: 0 })
    }

    async fn stop(&self, uid: u32, unit: &str) -> Result<(), OsError> {
        self.calls.record(format!("stop {uid} {unit}"));
        Ok(())
    }
}
