//! What PID 1 holds for each resident, out of the resident's reach: its user manager
//! (`user@UID.service`, a system unit) runs without new privileges and inside the declared
//! memory, CPU and task limits. A resident owns its user manager and can change any unit in
//! it (drop-ins, `set-property`, even the transient files under /run/user/UID), so nothing
//! that must hold is set only there.

use std::path::PathBuf;

use crate::config::Limits;
use crate::os::OsError;

/// Where the drop-in for one resident's manager lives (runtime: rewritten from the config
/// at every reset, boot and daemon start).
pub fn dropin_path(uid: u32) -> PathBuf {
    PathBuf::from(format!(
        "/run/systemd/system/user@{uid}.service.d/50-townhall.conf"
    ))
}

/// The drop-in's text for a resident with these limits.
pub fn dropin(limits: &Limits) -> String {
    let mut s = String::from(
        "# Written by townhall from the resident's config; the resident cannot change it.\n\
         [Service]\n\
         NoNewPrivileges=yes\n\
         RestrictSUIDSGID=yes\n\
         UMask=0077\n",
    );
    if let Some(m) = limits.memory_bytes {
        s.push_str(&format!("MemoryMax={m}\nMemorySwapMax=0\n"));
    }
    if let Some(c) = limits.cpu_percent {
        s.push_str(&format!("CPUQuota={c}%\n"));
    }
    if let Some(t) = limits.tasks {
        s.push_str(&format!("TasksMax={t}\n"));
    }
    s
}

/// Write each resident's drop-in (uid, limits); true when any changed (PID 1 must then reload).
pub fn write_dropins(residents: &[(u32, Limits)]) -> Result<bool, OsError> {
    let mut changed = false;
    for (uid, limits) in residents {
        changed |= crate::os::write_if_changed(&dropin_path(*uid), &dropin(limits), 0o644)?;
    }
    Ok(changed)
}

/// Declared limits the resident's user manager cannot enforce, because its cgroup does not
/// delegate the controller (read from cgroup v2's subtree_control).
pub fn unenforced(
    host: &impl super::Host,
    uid: u32,
    limits: &crate::config::Limits,
) -> Vec<String> {
    let path = format!(
        "/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service/cgroup.subtree_control"
    );
    let Some(delegated) = host.read(&path) else {
        return vec![format!(
            "no cgroup for uid {uid} yet ({path}): limits hold once its user manager runs"
        )];
    };
    let wanted = [
        ("memory", limits.memory_bytes.is_some(), "memory"),
        ("cpu", limits.cpu_percent.is_some(), "cpu"),
        ("tasks", limits.tasks.is_some(), "pids"),
    ];
    wanted
        .iter()
        .filter(|(_, set, ctl)| *set && !delegated.split_whitespace().any(|d| d == *ctl))
        .map(|(name, _, ctl)| format!("{name} limit not enforced: the `{ctl}` controller is not delegated to user@{uid}.service"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dropin_carries_the_declared_limits() {
        let town = crate::testing::demo_town();
        let ada = town.resident("ada").unwrap();
        let d = dropin(&ada.limits);
        for want in [
            "NoNewPrivileges=yes",
            "RestrictSUIDSGID=yes",
            "UMask=0077",
            "MemoryMax=4294967296",
            "CPUQuota=200%",
            "TasksMax=512",
        ] {
            assert!(d.contains(want), "missing {want} in\n{d}");
        }
        assert_eq!(
            dropin_path(1100),
            PathBuf::from("/run/systemd/system/user@1100.service.d/50-townhall.conf")
        );
    }
}
