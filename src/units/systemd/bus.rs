//! Reaching logind, PID 1 and each resident's user manager: every connection and call
//! timed, and a user manager's bus peer checked to be the resident inside its own manager.

use std::time::Duration;

use super::{SystemdUserManagers, bus_socket};
use crate::os::{OsContext, OsError};
use crate::units::connect::connect_as;

/// How long connecting to a user manager, or one call to it or to PID 1, may take.
pub(super) const CALL: Duration = Duration::from_secs(10);

/// Await `f` for at most `CALL`; both failing and hanging are an `OsError` saying `what`.
pub(super) async fn timed<T, E: std::fmt::Display>(
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

    pub(super) async fn pid1(
        &self,
    ) -> Result<zbus_systemd::systemd1::ManagerProxy<'static>, OsError> {
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

    pub(super) async fn manager(
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
}
