//! Residents' user managers over D-Bus, and PID 1 behind them. A resident owns its manager
//! and its bus socket, so every connection and call here has a timeout, the peer is checked,
//! and whatever must hold (ending a turn, ending the manager) falls back to PID 1.

mod bus;
mod properties;
mod watch;

use std::path::PathBuf;
use std::time::Duration;

use super::{TurnUnit, UnitEnd, UserManagers};
use crate::os::OsError;
use bus::timed;

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
