//! Residents' user managers over D-Bus, and PID 1 behind them. A resident owns its manager
//! and its bus socket, so every connection and call here has a timeout, the peer is checked,
//! and whatever must hold (ending a turn, ending the manager) falls back to PID 1.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use zbus::zvariant::{OwnedValue, Value};

use super::connect::connect_as;
use super::{TurnUnit, UnitEnd, UserManagers};
use crate::os::{OsContext, OsError};

/// How long connecting to a user manager, or one call to it or to PID 1, may take.
const CALL: Duration = Duration::from_secs(10);
/// How long after its RuntimeMax a turn may still run before the daemon ends it itself.
const GRACE: Duration = Duration::from_secs(15);

/// The real thing: logind and PID 1 on the system bus, each user manager on its resident's
/// session bus.
pub struct SystemdUserManagers {
    system: zbus::Connection,
    /// Managers seen answering since they were last started: while their bus socket is
    /// there, a turn need not ask logind and probe the bus again before it starts.
    answered: std::sync::Mutex<std::collections::HashSet<u32>>,
}

fn bus_socket(uid: u32) -> PathBuf {
    PathBuf::from(format!("/run/user/{uid}/bus"))
}

fn manager_unit(uid: u32) -> String {
    format!("user@{uid}.service")
}

/// Await `f` for at most `CALL`; both failing and hanging are an `OsError` saying `what`.
async fn timed<T, E: std::fmt::Display>(
    what: impl FnOnce() -> String,
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, OsError> {
    match tokio::time::timeout(CALL, f).await {
        Ok(r) => r.os(what),
        Err(_) => Err(OsError::new(
            what(),
            format!("no answer within {} s", CALL.as_secs()),
        )),
    }
}

/// The peer must run as the resident inside its own manager's cgroup, where PID 1's limits
/// hold. That is all it can prove: the resident controls that cgroup, so nothing taken from
/// this peer is trusted beyond the resident's own turns.
fn check_peer(uid: u32, stream: &std::os::unix::net::UnixStream) -> Result<(), String> {
    let cred = nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::PeerCredentials)
        .map_err(|e| e.to_string())?;
    if cred.uid() != uid {
        return Err(format!(
            "the socket's peer runs as uid {}, not {uid}",
            cred.uid()
        ));
    }
    let cgroup =
        std::fs::read_to_string(format!("/proc/{}/cgroup", cred.pid())).unwrap_or_default();
    if !cgroup.contains(&format!("/user@{uid}.service/")) {
        return Err(format!(
            "the socket's peer (pid {}) is not inside user@{uid}.service",
            cred.pid()
        ));
    }
    Ok(())
}

fn value<'a>(v: impl Into<Value<'a>>) -> Result<OwnedValue, OsError> {
    OwnedValue::try_from(v.into()).os(|| "encoding a unit property".into())
}

impl SystemdUserManagers {
    pub async fn connect() -> Result<Self, OsError> {
        let system = timed(
            || "connecting to the system bus".into(),
            zbus::Connection::system(),
        )
        .await?;
        Ok(Self {
            system,
            answered: Default::default(),
        })
    }

    async fn pid1(&self) -> Result<zbus_systemd::systemd1::ManagerProxy<'static>, OsError> {
        timed(
            || "PID 1 on the system bus".into(),
            zbus_systemd::systemd1::ManagerProxy::new(&self.system),
        )
        .await
    }

    /// The resident's own session bus, where its user manager is `org.freedesktop.systemd1`,
    /// connected as the resident (see connect.rs). (The manager's private socket admits
    /// root, but zbus panics on the signals systemd sends there with a well-known name as
    /// sender.)
    async fn user_bus(&self, uid: u32) -> Result<zbus::Connection, OsError> {
        let path = bus_socket(uid);
        let what =
            move || format!("connecting to the session bus of uid {uid} at /run/user/{uid}/bus");
        let connect = async move {
            let stream = tokio::task::spawn_blocking(move || connect_as(uid, &path))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            check_peer(uid, &stream)?;
            stream.set_nonblocking(true).map_err(|e| e.to_string())?;
            let stream = tokio::net::UnixStream::from_std(stream).map_err(|e| e.to_string())?;
            zbus::connection::Builder::unix_stream(stream)
                .user_id(uid)
                .build()
                .await
                .map_err(|e| e.to_string())
        };
        timed(what, connect).await
    }

    async fn manager(
        &self,
        uid: u32,
    ) -> Result<
        (
            zbus::Connection,
            zbus_systemd::systemd1::ManagerProxy<'static>,
        ),
        OsError,
    > {
        let conn = self.user_bus(uid).await?;
        let m = timed(
            || format!("the user manager of uid {uid}"),
            zbus_systemd::systemd1::ManagerProxy::new(&conn),
        )
        .await?;
        Ok((conn, m))
    }

    fn properties(unit: TurnUnit) -> Result<Vec<(String, OwnedValue)>, OsError> {
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

    /// Wait for the unit to end: PropertiesChanged on ActiveState, with a slow re-read
    /// guarding against a change that raced the subscription.
    async fn wait_end(
        &self,
        conn: &zbus::Connection,
        path: zbus::zvariant::OwnedObjectPath,
        what: &(impl Fn() -> String + Sync),
    ) -> Result<UnitEnd, OsError> {
        use zbus::proxy::CacheProperties;
        use zbus_systemd::systemd1::{ServiceProxy, UnitProxy};
        // No proxy caches properties: filling a cache is a GetAll of some 200 properties, which
        // the manager computes while the turn's process waits to start. Changes come as the
        // raw PropertiesChanged signal; reads go to the manager every time.
        let props = timed(what, async {
            zbus::fdo::PropertiesProxy::builder(conn)
                .destination("org.freedesktop.systemd1")?
                .path(path.clone())?
                .cache_properties(CacheProperties::No)
                .build()
                .await
        })
        .await?;
        let fresh = timed(what, async {
            UnitProxy::builder(conn)
                .path(path.clone())?
                .cache_properties(CacheProperties::No)
                .build()
                .await
        })
        .await?;
        let service = timed(what, async {
            ServiceProxy::builder(conn)
                .path(path)?
                .cache_properties(CacheProperties::No)
                .build()
                .await
        })
        .await?;
        let mut changes = timed(what, props.receive_properties_changed()).await?;
        loop {
            let state = timed(what, fresh.active_state()).await?;
            if state == "inactive" || state == "failed" {
                break;
            }
            tokio::select! {
                c = changes.next() => if c.is_none() {
                    return Err(OsError::new(what(), "the connection to the user manager closed"));
                },
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
        let end = UnitEnd {
            result: timed(what, service.result()).await?,
            status: timed(what, service.exec_main_status()).await?,
        };
        let _ = tokio::time::timeout(CALL, fresh.unref()).await; // now collect-mode removes it
        Ok(end)
    }

    /// Drop-ins the resident wrote for names that match our turn units (townhall-turn-.service.d,
    /// service.d, …) could replace what the turn runs: refuse such a turn.
    async fn refuse_dropins(
        &self,
        conn: &zbus::Connection,
        path: zbus::zvariant::OwnedObjectPath,
        what: &(impl Fn() -> String + Sync),
    ) -> Result<(), OsError> {
        let unit = timed(what, async {
            zbus_systemd::systemd1::UnitProxy::builder(conn)
                .path(path)?
                .cache_properties(zbus::proxy::CacheProperties::No)
                .build()
                .await
        })
        .await?;
        let dropins = timed(what, unit.drop_in_paths()).await?;
        if dropins.is_empty() {
            return Ok(());
        }
        let _ = tokio::time::timeout(CALL, unit.kill("all".into(), libc::SIGKILL)).await;
        Err(OsError::new(
            what(),
            format!(
                "refused: drop-ins apply to townhall's turn units ({}); remove them (the next reset does)",
                dropins.join(", ")
            ),
        ))
    }
}

impl UserManagers for SystemdUserManagers {
    async fn linger(&self, uid: u32) -> Result<(), OsError> {
        // An ended manager (`!stop`, a reset) takes its socket with it, and is started again below.
        if self.answered.lock().expect("lock").contains(&uid) && bus_socket(uid).exists() {
            return Ok(());
        }
        let what = || format!("enabling linger for uid {uid}");
        let login = timed(what, zbus_systemd::login1::ManagerProxy::new(&self.system)).await?;
        timed(what, login.set_user_linger(uid, true, false)).await?;
        let socket = bus_socket(uid);
        // One deadline for the whole wait: a bus that accepts and never answers must not
        // make each try wait out its own timeout.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut started = false;
        let mut last = String::from("its session bus never appeared");
        while tokio::time::Instant::now() < deadline {
            if socket.exists() {
                match tokio::time::timeout_at(deadline, self.manager(uid)).await {
                    Ok(Ok(_)) => {
                        self.answered.lock().expect("lock").insert(uid);
                        return Ok(());
                    }
                    Ok(Err(e)) => last = e.to_string(),
                    Err(_) => break,
                }
            }
            // logind starts a lingering user's manager once; one ended behind its back (by
            // `!stop`) is started again through PID 1.
            if !started && deadline - tokio::time::Instant::now() < Duration::from_secs(28) {
                started = true;
                let pid1 = self.pid1().await?;
                let _ = timed(what, pid1.start_unit(manager_unit(uid), "replace".into())).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(OsError::new(
            what(),
            format!("the user manager did not answer within 30 s ({last})"),
        ))
    }

    async fn run(&self, uid: u32, mut unit: TurnUnit) -> Result<UnitEnd, OsError> {
        let name = unit.name.clone();
        let verified = unit.verified.take();
        let what = || format!("running {name} for uid {uid}");
        let deadline = unit.runtime_max + GRACE;
        let t0 = std::time::Instant::now();
        let ms = || t0.elapsed().as_secs_f64() * 1e3;
        // One connection for the whole turn: the unit's reference lives as long as it does.
        let (conn, manager) = match self.manager(uid).await {
            Ok(m) => m,
            // Ended behind our back (by the resident, say): started again, once.
            Err(_) if self.answered.lock().expect("lock").remove(&uid) => {
                self.linger(uid).await?;
                self.manager(uid).await?
            }
            Err(e) => return Err(e),
        };
        let props = Self::properties(unit)?;
        let connected = ms();
        // Ask the manager for its signals before the unit exists, so no change is missed.
        timed(what, manager.subscribe()).await?;
        timed(
            what,
            manager.start_transient_unit(name.clone(), "fail".into(), props, vec![]),
        )
        .await?;
        let started = ms();
        let path = timed(what, manager.get_unit(name.clone())).await?;
        self.refuse_dropins(&conn, path.clone(), &what).await?;
        tracing::debug!(%name, uid, connected, started, checked = ms(), "turn unit started (ms since asked)");
        if let Some(v) = verified {
            let _ = v.send(());
        }
        // The daemon enforces the timeout too: the resident's manager may never say "ended".
        match tokio::time::timeout(deadline, self.wait_end(&conn, path, &what)).await {
            Ok(end) => end,
            Err(_) => {
                tracing::warn!(%name, uid, "still running {} s after its timeout: ending it", GRACE.as_secs());
                self.stop(uid, &name).await?;
                Ok(UnitEnd {
                    result: "timeout".into(),
                    status: 0,
                })
            }
        }
    }

    async fn stop(&self, uid: u32, unit: &str) -> Result<(), OsError> {
        let what = || format!("stopping {unit} for uid {uid}");
        let asked = async {
            let (_conn, manager) = self.manager(uid).await?;
            timed(what, manager.stop_unit(unit.to_string(), "replace".into())).await
        };
        if let Err(e) = asked.await {
            tracing::warn!("{e}: ending the user manager of uid {uid} through PID 1");
            return self.end_manager(uid).await;
        }
        Ok(())
    }

    async fn end_manager(&self, uid: u32) -> Result<(), OsError> {
        self.answered.lock().expect("lock").remove(&uid);
        let what = || format!("ending user@{uid}.service through PID 1");
        let pid1 = self.pid1().await?;
        // SIGKILL first: a manager its resident wedged still dies; then the stop job.
        let _ = timed(
            what,
            pid1.kill_unit(manager_unit(uid), "all".into(), libc::SIGKILL),
        )
        .await;
        match timed(what, pid1.stop_unit(manager_unit(uid), "replace".into())).await {
            Err(e) if e.detail.contains("not loaded") || e.detail.contains("NoSuchUnit") => Ok(()),
            r => r.map(|_| ()),
        }
    }

    async fn stop_strays(
        &self,
        uid: u32,
        ours: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<Vec<String>, OsError> {
        if !bus_socket(uid).exists() {
            return Ok(vec![]);
        }
        let what = || format!("looking for turn units left in the manager of uid {uid}");
        let (_conn, manager) = self.manager(uid).await?;
        let units = timed(
            what,
            manager.list_units_by_patterns(vec![], vec!["townhall-turn-*".into()]),
        )
        .await?;
        let mut stopped = Vec::new();
        for u in units.into_iter().filter(|u| !ours(&u.0)) {
            let name = u.0;
            self.stop(uid, &name).await?;
            stopped.push(name);
        }
        Ok(stopped)
    }
}
