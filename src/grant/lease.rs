//! Leases: a mayor lends a device that matches the town's rules to a resident for a while
//! (`!lease ttyUSB0 ada 2h`). Kept on disk so a restart neither forgets nor extends one;
//! the keeper grants what a lease wants as it grants what a rule wants.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::os::OsError;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lease {
    pub devnode: PathBuf,
    pub resident: String,
    /// The mayor who lent it.
    pub by: String,
    /// RFC 3339.
    pub since: String,
    pub until: String,
}

impl Lease {
    /// The lease ends at `until`; one whose time cannot be read has ended.
    pub fn ends(&self) -> SystemTime {
        humantime::parse_rfc3339(&self.until).unwrap_or(SystemTime::UNIX_EPOCH)
    }

    pub fn active(&self, now: SystemTime) -> bool {
        self.ends() > now
    }
}

pub struct Leases {
    path: PathBuf,
    list: Mutex<Vec<Lease>>,
}

impl Leases {
    pub fn new(state: &Path) -> Result<Self, OsError> {
        let path = state.join("leases.json");
        let list = crate::os::read_state(
            &path,
            "it lists the device leases mayors made; move it away to end them all",
        )?
        .unwrap_or_default();
        Ok(Self {
            path,
            list: Mutex::new(list),
        })
    }

    fn save(&self, list: &[Lease]) -> Result<(), OsError> {
        crate::os::write_state(&self.path, list)
    }

    /// Lend: one lease per device and resident, so leasing again moves its end.
    pub fn add(&self, lease: Lease) -> Result<(), OsError> {
        let mut list = self.list.lock().expect("lock");
        let mut next: Vec<Lease> = list
            .iter()
            .filter(|l| !(l.devnode == lease.devnode && l.resident == lease.resident))
            .cloned()
            .collect();
        next.push(lease);
        self.save(&next)?;
        *list = next;
        Ok(())
    }

    /// End every lease on `devnode` (for `resident` only, when named); what ended.
    pub fn release(&self, devnode: &Path, resident: Option<&str>) -> Result<Vec<Lease>, OsError> {
        let mut list = self.list.lock().expect("lock");
        let (ended, kept): (Vec<Lease>, Vec<Lease>) = list
            .iter()
            .cloned()
            .partition(|l| l.devnode == devnode && resident.is_none_or(|r| r == l.resident));
        if !ended.is_empty() {
            self.save(&kept)?;
            *list = kept;
        }
        Ok(ended)
    }

    /// Forget the leases that ended by `now`; what ended.
    pub fn expire(&self, now: SystemTime) -> Result<Vec<Lease>, OsError> {
        let mut list = self.list.lock().expect("lock");
        let (kept, ended): (Vec<Lease>, Vec<Lease>) =
            list.iter().cloned().partition(|l| l.active(now));
        if !ended.is_empty() {
            self.save(&kept)?;
            *list = kept;
        }
        Ok(ended)
    }

    pub fn on(&self, devnode: &Path, now: SystemTime) -> Vec<Lease> {
        self.list
            .lock()
            .expect("lock")
            .iter()
            .filter(|l| l.devnode == devnode && l.active(now))
            .cloned()
            .collect()
    }

    pub fn all(&self) -> Vec<Lease> {
        self.list.lock().expect("lock").clone()
    }

    /// When the next lease ends, for the watcher's timer.
    pub fn next_end(&self) -> Option<SystemTime> {
        self.list
            .lock()
            .expect("lock")
            .iter()
            .map(Lease::ends)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lease(node: &str, who: &str, until: SystemTime) -> Lease {
        let t = |t| humantime::format_rfc3339_seconds(t).to_string();
        Lease {
            devnode: node.into(),
            resident: who.into(),
            by: "@mayor:town.test".into(),
            since: t(SystemTime::now()),
            until: t(until),
        }
    }

    #[test]
    fn leases_survive_a_restart_and_end_on_time() {
        let state = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let leases = Leases::new(state.path()).unwrap();
        leases.add(lease("/dev/ttyS0", "vox", now + hour)).unwrap();
        leases
            .add(lease("/dev/ttyS0", "vox", now + 2 * hour))
            .unwrap();
        leases
            .add(lease("/dev/ttyUSB0", "ada", now + hour))
            .unwrap();
        let again = Leases::new(state.path()).unwrap();
        assert_eq!(again.all().len(), 2, "leasing again moves the end");
        assert_eq!(again.on(Path::new("/dev/ttyS0"), now).len(), 1);
        assert!(again.on(Path::new("/dev/ttyS0"), now + 3 * hour).is_empty());
        assert_eq!(
            humantime::format_rfc3339_seconds(again.next_end().unwrap()).to_string(),
            again
                .all()
                .iter()
                .find(|l| l.resident == "ada")
                .unwrap()
                .until
        );
        let ended = again.expire(now + hour + Duration::from_secs(1)).unwrap();
        assert_eq!(
            ended
                .iter()
                .map(|l| l.resident.as_str())
                .collect::<Vec<_>>(),
            ["ada"]
        );
        assert_eq!(
            again.release(Path::new("/dev/ttyS0"), None).unwrap().len(),
            1
        );
        assert!(Leases::new(state.path()).unwrap().all().is_empty());
    }
}
