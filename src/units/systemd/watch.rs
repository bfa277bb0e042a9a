//! Watching a turn's unit once started: drop-ins the resident wrote for it refuse the turn,
//! and its end is awaited from the manager's signals with a slow re-read.

use std::time::Duration;

use futures_util::StreamExt;

use super::SystemdUserManagers;
use super::bus::{CALL, timed};
use crate::os::OsError;
use crate::units::UnitEnd;

impl SystemdUserManagers {
    /// Wait for the unit to end: PropertiesChanged on ActiveState, with a slow re-read
    /// guarding against a change that raced the subscription.
    pub(super) async fn wait_end(
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
    pub(super) async fn refuse_dropins(
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
