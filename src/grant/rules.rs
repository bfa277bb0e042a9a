//! Which residents a device is granted to: rules matched like udev matches them.

use std::collections::BTreeMap;

use super::Device;
use crate::config::{DeviceRule, Permission, Town};

/// logind flushes user ACL entries on devices with this tag, so grants on them cannot hold.
pub const UACCESS: &str = "uaccess";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Want {
    pub resident: String,
    pub uid: u32,
    pub perm: Permission,
}

/// As udev: subsystem and kernel name of the device itself, its own properties, and all
/// `attrs` on one single device of the chain from it up through its parents (ATTRS).
pub fn matches(rule: &DeviceRule, dev: &Device) -> bool {
    if rule.subsystem != dev.subsystem {
        return false;
    }
    if let Some(k) = &rule.kernel
        && !glob::Pattern::new(k).is_ok_and(|p| p.matches(&dev.sysname))
    {
        return false;
    }
    if !rule
        .properties
        .iter()
        .all(|(k, v)| dev.properties.get(k) == Some(v))
    {
        return false;
    }
    rule.attrs.is_empty()
        || dev
            .attrs
            .iter()
            .any(|level| rule.attrs.iter().all(|(k, v)| level.get(k) == Some(v)))
}

/// A device a rule grants that carries udev's `uaccess` tag: logind would take any grant
/// back at the next seat change, so none is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{node} carries udev's `uaccess` tag, so logind would flush any grant to {}; not granted. \
     Help: give it to the resident with a udev rule without uaccess (TAG-=\"uaccess\")",
    residents.join(", ")
)]
pub struct Uaccess {
    pub node: String,
    pub residents: Vec<String>,
}

/// Who should hold `dev`, strongest permission per resident; Err when it matches a rule
/// but carries `uaccess`.
pub fn wanted(town: &Town, dev: &Device) -> Result<Vec<Want>, Uaccess> {
    let mut by_uid: BTreeMap<u32, Want> = BTreeMap::new();
    for r in &town.residents {
        for rule in r.devices.iter().filter(|rule| matches(rule, dev)) {
            let w = by_uid.entry(r.uid).or_insert(Want {
                resident: r.name.clone(),
                uid: r.uid,
                perm: rule.permission,
            });
            if rule.permission == Permission::Rw {
                w.perm = Permission::Rw;
            }
        }
    }
    if !by_uid.is_empty() && dev.tags.iter().any(|t| t == UACCESS) {
        let node = dev
            .devnode
            .as_ref()
            .map_or(dev.sysname.clone(), |p| p.display().to_string());
        let residents = by_uid.values().map(|w| w.resident.clone()).collect();
        return Err(Uaccess { node, residents });
    }
    Ok(by_uid.into_values().collect())
}

/// The baud rate the first matching rule that names one gives, for `!tail`.
pub fn baud(town: &Town, dev: &Device) -> Option<u32> {
    town.residents
        .iter()
        .flat_map(|r| &r.devices)
        .filter(|rule| matches(rule, dev))
        .find_map(|rule| rule.baud)
}

/// Subsystems to watch and the sysfs attributes to read, from every rule in the town.
pub fn interest(town: &Town) -> (Vec<String>, Vec<String>) {
    let rules = town.residents.iter().flat_map(|r| &r.devices);
    let mut subs: Vec<String> = rules.clone().map(|r| r.subsystem.clone()).collect();
    let mut attrs: Vec<String> = rules.flat_map(|r| r.attrs.keys().cloned()).collect();
    subs.sort();
    subs.dedup();
    attrs.sort();
    attrs.dedup();
    (subs, attrs)
}
