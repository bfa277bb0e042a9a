//! Devices as the hall tells them: what the rules match, who holds each, the leases.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    R,
    Rw,
}

/// A resident holding a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub resident: String,
    pub perm: Permission,
    /// RFC 3339.
    pub since: String,
    /// Held by a lease (no rule wants it) that ends then, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

/// A present device some rule matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// A mayor's loan of a device to a resident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub devnode: PathBuf,
    pub resident: String,
    /// The mayor who lent it.
    pub by: String,
    /// RFC 3339.
    pub since: String,
    pub until: String,
}
