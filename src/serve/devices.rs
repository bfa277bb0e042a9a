//! The daemon's device grants: reconcile at start and on reload, follow udev, tell the rooms.

use std::time::{Duration, SystemTime};

use crate::config::Town;
use crate::grant::{Acls, Change, DeviceEvent, DeviceStatus, Devices, Lease, interest};
use crate::hall::Notice;
use crate::machine::Machine;
use crate::units::UserManagers;

use super::Daemon;
use super::declined::Declined;

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    fn record(&self, town: &Town, changes: &[Change]) {
        for c in changes {
            tracing::info!("device: {c:?}");
            if let Err(e) = crate::audit::append(&town.state, "device", c) {
                tracing::warn!("{e}");
            }
            self.notify(c);
        }
    }

    /// Tell a resident's rooms that a granted device appeared or went.
    fn notify(&self, change: &Change) {
        let node = |p: &std::path::Path| p.display().to_string();
        let (resident, notice) = match change {
            Change::Granted {
                devnode,
                resident,
                perm,
                ..
            } => (
                resident,
                Notice::DeviceGranted {
                    devnode: node(devnode),
                    read_write: *perm == crate::config::Permission::Rw,
                },
            ),
            Change::Gone { devnode, resident } => (
                resident,
                Notice::DeviceGone {
                    devnode: node(devnode),
                },
            ),
            Change::Revoked {
                devnode,
                resident,
                leased,
                ..
            } => (
                resident,
                Notice::DeviceRevoked {
                    devnode: node(devnode),
                    lease_ended: *leased,
                },
            ),
            Change::Refused { .. } => return,
            Change::Failed {
                devnode,
                resident,
                why,
            } => {
                tracing::error!(%resident, "device grant on {}: {why}", devnode.display());
                return;
            }
        };
        self.tell(resident, notice);
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
            match self
                .keeper
                .all(&town, &present, &crate::round::now_rfc3339())
            {
                Ok(c) => self.record(&town, &c),
                Err(e) => tracing::error!("reconciling device grants: {e}"),
            }
            self.reconciled.send_replace(true);
            // The next lease's end is a reconcile like a reload: it drops out of the wants.
            let lease_ends = self
                .keeper
                .leases
                .next_end()
                .map(|t| t.duration_since(SystemTime::now()).unwrap_or_default());
            let lease_ends = async {
                match lease_ends {
                    Some(d) => tokio::time::sleep(d + Duration::from_millis(10)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(reloaded, lease_ends);
            loop {
                let ev = async {
                    match events.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = &mut reloaded => break,
                    _ = &mut lease_ends => break,
                    ev = ev => {
                        let now = crate::round::now_rfc3339();
                        // Only a device udev adds starts `[[on]] device` turns, not a start.
                        let added = matches!(ev, Some(DeviceEvent::Add(_)));
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
                            Some(DeviceEvent::Remove(d)) => {
                                if let Some(node) = &d.devnode {
                                    self.tails.stop(node);
                                }
                                self.keeper.removed(&d)
                            }
                            None => break,
                        };
                        match r {
                            Ok(c) => {
                                self.record(&town, &c);
                                if added {
                                    self.appeared(&town, &c);
                                }
                            }
                            Err(e) => tracing::error!("device grant: {e}"),
                        }
                    }
                }
            }
        }
    }

    /// The present device `name` names (ttyS0 or /dev/ttyS0): only devices the rules match
    /// can be leased or tailed, whatever a mayor types.
    pub(super) fn present(&self, name: &str) -> Result<DeviceStatus, Declined> {
        let as_node = std::path::Path::new("/dev").join(name);
        self.keeper
            .status()
            .into_iter()
            .find(|s| {
                s.devnode == std::path::Path::new(name) || s.devnode == as_node || s.sysname == name
            })
            .ok_or_else(|| Declined::NoDevice(name.into()))
    }

    /// Lend a matching device: the watcher grants it (and later revokes it) like a rule's.
    pub(super) fn lease(
        &self,
        device: &str,
        resident: &str,
        secs: u64,
        by: &str,
    ) -> Result<Lease, Declined> {
        let dev = self.present(device)?;
        if let Some(why) = dev.refused {
            return Err(Declined::DeviceRefused(why));
        }
        let now = SystemTime::now();
        let at = |t| humantime::format_rfc3339_seconds(t).to_string();
        let lease = Lease {
            devnode: dev.devnode,
            resident: resident.into(),
            by: by.into(),
            since: at(now),
            until: at(now + Duration::from_secs(secs)),
        };
        self.keeper.leases.add(lease.clone())?;
        self.audit_lease("lease", &lease);
        self.reloaded.notify_waiters();
        Ok(lease)
    }

    /// End the leases on a device now; what ended.
    pub(super) fn release(&self, device: &str, by: &str) -> Result<Vec<Lease>, Declined> {
        let dev = self.present(device)?;
        let ended = self.keeper.leases.release(&dev.devnode, None)?;
        if ended.is_empty() {
            return Err(Declined::NotLeased(dev.devnode));
        }
        for l in &ended {
            tracing::info!(%by, resident = %l.resident, "released {}", l.devnode.display());
            self.audit_lease("release", l);
        }
        self.reloaded.notify_waiters();
        Ok(ended)
    }

    fn audit_lease(&self, event: &str, lease: &Lease) {
        if let Err(e) = crate::audit::append(&self.town().state, event, lease) {
            tracing::warn!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    #[tokio::test]
    async fn the_watcher_grants_what_is_present_follows_udev_and_keeps_notices_for_the_chat() {
        let state = tempfile::tempdir().unwrap();
        let machine = crate::testing::fake_machine(vec![]);
        let (d, tx, watcher) = crate::serve::testing::watching(state.path(), machine);
        tx.send(DeviceEvent::Add(crate::testing::ftdi_adapter(
            "/dev/ttyUSB1",
        )))
        .await
        .unwrap();
        tx.send(DeviceEvent::Remove(crate::testing::ftdi_adapter(
            "/dev/ttyUSB0",
        )))
        .await
        .unwrap();
        let want = [
            Notice::DeviceGranted {
                devnode: "/dev/ttyUSB0".into(),
                read_write: true,
            },
            Notice::DeviceGranted {
                devnode: "/dev/ttyUSB1".into(),
                read_write: true,
            },
            Notice::DeviceGone {
                devnode: "/dev/ttyUSB0".into(),
            },
        ];
        let mut got = vec![];
        for _ in 0..200 {
            got = d.teller.pending_for("ada");
            if got.len() >= want.len() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        watcher.abort();
        assert_eq!(got, want, "no chat subscribed: the notices wait for one");
        let grants: Vec<_> = d.keeper.acls().calls.calls();
        assert_eq!(
            grants,
            ["grant /dev/ttyUSB0 1100 Rw", "grant /dev/ttyUSB1 1100 Rw"]
        );
        assert_eq!(
            d.keeper
                .status()
                .iter()
                .map(|s| s.devnode.display().to_string())
                .collect::<Vec<_>>(),
            ["/dev/ttyUSB1"]
        );
    }
}
