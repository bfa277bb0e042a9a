//! The daemon's grants: reconcile each device's ACL with the rules, remember which entries
//! townhall made (so it removes only those), and say what it did.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::lease::Leases;
use super::rules::{Want, wanted};
use super::{Acls, Device};
use crate::config::{Permission, Town};
use crate::os::OsError;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Held {
    pub resident: String,
    pub perm: Permission,
    /// RFC 3339.
    pub since: String,
    /// Held by a lease (no rule wants it) that ends then, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceStatus {
    pub devnode: PathBuf,
    pub subsystem: String,
    pub sysname: String,
    pub holders: Vec<Held>,
    /// Why a matching device is not granted (e.g. it carries `uaccess`).
    pub refused: Option<String>,
    /// From the rules, for `!tail`.
    #[serde(default)]
    pub baud: Option<u32>,
}

/// What changed, for the audit log and the residents' rooms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Change {
    Granted {
        devnode: PathBuf,
        resident: String,
        uid: u32,
        perm: Permission,
    },
    /// `leased`: it was held by a lease, which ended.
    Revoked {
        devnode: PathBuf,
        resident: String,
        uid: u32,
        leased: bool,
    },
    Gone {
        devnode: PathBuf,
        resident: String,
    },
    Refused {
        devnode: PathBuf,
        reason: String,
    },
    /// The ACL could not be changed: retried at the next event or reconcile.
    Failed {
        devnode: PathBuf,
        resident: String,
        why: String,
    },
}

pub struct Keeper<A> {
    acls: A,
    ledger_path: PathBuf,
    /// devnode → uid → what townhall granted there.
    ledger: Mutex<BTreeMap<PathBuf, BTreeMap<u32, Held>>>,
    present: Mutex<BTreeMap<PathBuf, DeviceStatus>>,
    pub leases: Leases,
}

impl<A: Acls> Keeper<A> {
    /// A corrupt ledger is an error: townhall would no longer know which entries are its own.
    pub fn new(acls: A, state: &Path) -> Result<Self, OsError> {
        let ledger_path = state.join("grants.json");
        let help = "it lists the ACL entries townhall made; fix it, or move it away and remove townhall's entries by hand (getfacl shows them)";
        let ledger = crate::os::read_state(&ledger_path, help)?.unwrap_or_default();
        let leases = Leases::new(state)?;
        Ok(Self {
            acls,
            ledger_path,
            ledger: Mutex::new(ledger),
            present: Default::default(),
            leases,
        })
    }

    fn save(&self, ledger: &BTreeMap<PathBuf, BTreeMap<u32, Held>>) -> Result<(), OsError> {
        crate::os::write_state(&self.ledger_path, ledger)
    }

    /// Bring one present device in line with the rules. `reapply` grants again even when
    /// the entry looks right: after a `change` event udev's MODE may have reset the mask.
    pub fn device(
        &self,
        town: &Town,
        dev: &Device,
        reapply: bool,
        now: &str,
    ) -> Result<Vec<Change>, OsError> {
        let Some(node) = dev.devnode.clone() else {
            return Ok(vec![]);
        };
        let (wants, refused): (Vec<Want>, Option<String>) = match wanted(town, dev) {
            Ok(w) => (w, None),
            Err(reason) => (vec![], Some(reason.to_string())),
        };
        let wants = self.with_leases(town, &node, wants, refused.is_some(), now);
        let mut ledger = self.ledger.lock().expect("lock");
        // Devices no rule wants and townhall never touched are none of its business.
        if wants.is_empty() && refused.is_none() && !ledger.contains_key(&node) {
            return Ok(vec![]);
        }
        let mine = ledger.entry(node.clone()).or_default();
        let current = self.acls.users(&node)?;
        let mut changes = Vec::new();
        // One entry that cannot be changed must not stop the others, and the ledger is saved
        // whatever happened: it must name exactly the entries townhall made.
        for w in &wants {
            let (w, until) = w;
            let fresh = mine.get(&w.uid).is_none_or(|h| h.perm != w.perm);
            if (fresh || reapply || current.get(&w.uid) != Some(&w.perm))
                && let Err(e) = self.acls.grant(&node, w.uid, w.perm)
            {
                changes.push(Change::Failed {
                    devnode: node.clone(),
                    resident: w.resident.clone(),
                    why: e.to_string(),
                });
                continue;
            }
            if fresh {
                mine.insert(
                    w.uid,
                    Held {
                        resident: w.resident.clone(),
                        perm: w.perm,
                        since: now.into(),
                        until: until.clone(),
                    },
                );
                changes.push(Change::Granted {
                    devnode: node.clone(),
                    resident: w.resident.clone(),
                    uid: w.uid,
                    perm: w.perm,
                });
            } else if let Some(h) = mine.get_mut(&w.uid) {
                h.until = until.clone();
            }
        }
        let stale: Vec<u32> = mine
            .keys()
            .filter(|uid| !wants.iter().any(|(w, _)| w.uid == **uid))
            .copied()
            .collect();
        let mut cut = Vec::new();
        for uid in stale {
            let (resident, leased) = (mine[&uid].resident.clone(), mine[&uid].until.is_some());
            if let Err(e) = self.acls.revoke(&node, uid) {
                // Still ours: kept in the ledger, so the next reconcile revokes it.
                changes.push(Change::Failed {
                    devnode: node.clone(),
                    resident,
                    why: e.to_string(),
                });
                continue;
            }
            mine.remove(&uid);
            cut.push((uid, resident.clone()));
            changes.push(Change::Revoked {
                devnode: node.clone(),
                resident,
                uid,
                leased,
            });
        }
        if let Some(reason) = &refused {
            changes.push(Change::Refused {
                devnode: node.clone(),
                reason: reason.clone(),
            });
        }
        let holders: Vec<Held> = mine.values().cloned().collect();
        if mine.is_empty() {
            ledger.remove(&node);
        }
        self.save(&ledger)?;
        drop(ledger);
        {
            let mut present = self.present.lock().expect("lock");
            if holders.is_empty() && refused.is_none() {
                present.remove(&node);
            } else {
                let baud = super::rules::baud(town, dev);
                let status = DeviceStatus {
                    devnode: node.clone(),
                    subsystem: dev.subsystem.clone(),
                    sysname: dev.sysname.clone(),
                    holders,
                    refused,
                    baud,
                };
                present.insert(node.clone(), status);
            }
        }
        // The entry only stops new opens: what is open now is cut off too (after the
        // locks: finding holders runs a helper as the resident, bounded in time).
        for (uid, resident) in cut {
            match self.acls.cut_off(&node, uid) {
                Ok(super::Cut::HungUp) => {
                    tracing::info!(%resident, "hung up {} (its grant ended)", node.display())
                }
                Ok(super::Cut::Ended(n)) if n > 0 => {
                    tracing::info!(%resident, "ended {n} process(es) holding {} open (its grant ended)", node.display())
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(%resident, "{e}"),
            }
        }
        Ok(changes)
    }

    /// The rules' wants, then what the device's active leases add (read-write; a rule's
    /// grant stays as it is, without an end). None on a device the rules refuse.
    fn with_leases(
        &self,
        town: &Town,
        node: &Path,
        wants: Vec<Want>,
        refused: bool,
        now: &str,
    ) -> Vec<(Want, Option<String>)> {
        let mut out: Vec<(Want, Option<String>)> = wants.into_iter().map(|w| (w, None)).collect();
        if refused {
            return out;
        }
        let now = humantime::parse_rfc3339(now).unwrap_or_else(|_| std::time::SystemTime::now());
        for l in self.leases.on(node, now) {
            let Some(r) = town.resident(&l.resident) else {
                continue;
            };
            // One lease per device and resident (Leases::add): only a rule can be there first.
            if !out.iter().any(|(w, _)| w.uid == r.uid) {
                out.push((
                    Want {
                        resident: r.name.clone(),
                        uid: r.uid,
                        perm: Permission::Rw,
                    },
                    Some(l.until.clone()),
                ));
            }
        }
        out
    }

    /// The device went away: its node (and our entries on it) are gone with it.
    pub fn removed(&self, dev: &Device) -> Result<Vec<Change>, OsError> {
        let Some(node) = dev.devnode.clone() else {
            return Ok(vec![]);
        };
        self.present.lock().expect("lock").remove(&node);
        let mut ledger = self.ledger.lock().expect("lock");
        let gone = ledger.remove(&node).unwrap_or_default();
        self.save(&ledger)?;
        Ok(gone
            .into_values()
            .map(|h| Change::Gone {
                devnode: node.clone(),
                resident: h.resident,
            })
            .collect())
    }

    /// Reconcile everything present (at start and after a reload), and revoke what townhall
    /// granted on nodes no longer present among them.
    pub fn all(&self, town: &Town, devices: &[Device], now: &str) -> Result<Vec<Change>, OsError> {
        let when = humantime::parse_rfc3339(now).unwrap_or_else(|_| std::time::SystemTime::now());
        for l in self.leases.expire(when)? {
            tracing::info!(resident = %l.resident, "the lease of {} ended", l.devnode.display());
        }
        let mut changes = Vec::new();
        // One device that cannot be handled must not keep the others from their grants.
        for d in devices {
            match self.device(town, d, true, now) {
                Ok(c) => changes.extend(c),
                Err(e) => tracing::warn!("device grant: {e}"),
            }
        }
        let seen: Vec<&PathBuf> = devices.iter().filter_map(|d| d.devnode.as_ref()).collect();
        let orphans: Vec<PathBuf> = self
            .ledger
            .lock()
            .expect("lock")
            .keys()
            .filter(|p| !seen.contains(p))
            .cloned()
            .collect();
        for node in orphans {
            let orphan = Device {
                syspath: PathBuf::new(),
                devnode: Some(node.clone()),
                subsystem: String::new(),
                sysname: String::new(),
                properties: Default::default(),
                tags: vec![],
                attrs: vec![],
            };
            if node.exists() {
                changes.extend(self.device(town, &orphan, false, now)?);
            } else {
                changes.extend(self.removed(&orphan)?);
            }
        }
        Ok(changes)
    }

    pub fn acls(&self) -> &A {
        &self.acls
    }

    pub fn status(&self) -> Vec<DeviceStatus> {
        self.present
            .lock()
            .expect("lock")
            .values()
            .cloned()
            .collect()
    }
}
