//! The daemon's device grants: reconcile at start and on reload, follow udev, tell the rooms.

use crate::config::Town;
use crate::grant::{Acls, Change, DeviceEvent, Devices, interest};
use crate::resident::Accounts;
use crate::units::UserManagers;

use super::Daemon;

impl<A, M, G> Daemon<A, M, G>
where
    A: Accounts + Send + Sync + 'static,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    fn record(&self, town: &Town, changes: &[Change]) {
        for c in changes {
            tracing::info!("device: {c:?}");
            if let Err(e) = crate::audit::append(&town.state, "device", c) {
                tracing::warn!("{e}");
            }
            self.notify(town, c);
        }
    }

    /// Tell a resident's rooms that a granted device appeared or went.
    fn notify(&self, town: &Town, change: &Change) {
        let (resident, text) = match change {
            Change::Granted { devnode, resident, perm, .. } => {
                let p = if *perm == crate::config::Permission::Rw { "read-write" } else { "read-only" };
                (resident, format!("_Device {} is here and granted to {resident} ({p})._", devnode.display()))
            }
            Change::Gone { devnode, resident } => (resident, format!("_Device {} is gone._", devnode.display())),
            Change::Revoked { devnode, resident, .. } => (resident, format!("_Access to {} was revoked._", devnode.display())),
            Change::Refused { .. } => return,
        };
        self.tell(town, resident, text);
    }

    /// Hold the grants: reconcile what is present, then follow udev until the rules change.
    pub async fn watch_devices(&self, devices: &impl Devices) {
        loop {
            let town = self.town();
            let (subsystems, attrs) = interest(&town);
            let reloaded = self.reloaded.notified();
            let mut events = match devices.watch(&subsystems, &attrs) {
                Ok(rx) if !subsystems.is_empty() => Some(rx),
                Ok(_) => None,
                Err(e) => {
                    tracing::error!("{e}: device grants are not held until the next reload");
                    None
                }
            };
            let present = devices.present(&subsystems, &attrs).unwrap_or_else(|e| {
                tracing::error!("{e}");
                vec![]
            });
            match self.keeper.all(&town, &present, &crate::round::now_rfc3339()) {
                Ok(c) => self.record(&town, &c),
                Err(e) => tracing::error!("reconciling device grants: {e}"),
            }
            tokio::pin!(reloaded);
            loop {
                let ev = async {
                    match events.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = &mut reloaded => break,
                    ev = ev => {
                        let now = crate::round::now_rfc3339();
                        let r = match ev {
                            Some(DeviceEvent::Add(d)) => self.keeper.device(&town, &d, false, &now),
                            Some(DeviceEvent::Change(d)) => {
                                let r = self.keeper.device(&town, &d, true, &now);
                                let held = self.keeper.status().iter().filter(|s| Some(&s.devnode) == d.devnode.as_ref()).map(|s| s.holders.len()).sum::<usize>();
                                if r.is_ok() && held > 0 {
                                    let node = d.devnode.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
                                    tracing::info!("change event: re-applied {held} grant(s) on {node}");
                                }
                                r
                            }
                            Some(DeviceEvent::Remove(d)) => self.keeper.removed(&d),
                            None => break,
                        };
                        match r {
                            Ok(c) => self.record(&town, &c),
                            Err(e) => tracing::error!("device grant: {e}"),
                        }
                    }
                }
            }
        }
    }

}
