//! Devices as the hall tells them: what the rules match, who holds each, the leases.

use std::path::PathBuf;
use std::time::Duration;

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

/// The shortest and longest lease: a typo must not lend a device for a year.
pub const SHORTEST_LEASE: Duration = Duration::from_secs(60);
pub const LONGEST_LEASE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Why a lease's length is refused; each says how to write one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LeaseDurationError {
    #[error("`{0}` is not a duration ({1}); write it like 30m, 2h or 1d")]
    Unreadable(String, String),
    #[error("a lease lasts from 1 minute to 30 days, not {0}")]
    OutOfRange(String),
}

/// "2h", "90m", "1d 12h": how long a `!lease` lends, within the shortest and longest.
pub fn lease_duration(text: &str) -> Result<Duration, LeaseDurationError> {
    let d = humantime::parse_duration(text)
        .map_err(|e| LeaseDurationError::Unreadable(text.into(), e.to_string()))?;
    if !(SHORTEST_LEASE..=LONGEST_LEASE).contains(&d) {
        return Err(LeaseDurationError::OutOfRange(
            humantime::format_duration(d).to_string(),
        ));
    }
    Ok(d)
}

/// The tool named in an approval question that asks a mayor to lend a device (the town's
/// `request_device` tool): the chat words it as a request to lend.
pub const DEVICE_TOOL: &str = "request_device";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_durations_are_bounded_and_say_how_to_write_them() {
        assert_eq!(lease_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(lease_duration("1d 12h"), Ok(Duration::from_secs(36 * 3600)));
        let e = lease_duration("2 fortnights").unwrap_err().to_string();
        assert!(e.contains("like 30m, 2h or 1d"), "{e}");
        let e = lease_duration("10s").unwrap_err().to_string();
        assert!(e.contains("from 1 minute to 30 days"), "{e}");
        assert!(lease_duration("365d").is_err());
    }
}
