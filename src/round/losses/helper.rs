//! The helper that reads a home for what a reset loses: `townhall losses`, run as a unit of
//! its own in the resident's slice with a time and memory limit, the home bound read-only
//! into it, and become the resident (no longer dumpable) before it looks.

use std::path::Path;
use std::time::Duration;

use super::Losses;
use crate::config::{Resident, Town};

/// Where the home is bound in the helper's unit.
pub const BOUND_HOME: &str = "/run/townhall-losses";
/// How long the helper may take, and its output at most.
const WITHIN: Duration = Duration::from_secs(60);

/// What `r` would lose if its live home were levelled now (before an interactive reset).
pub fn losses(town: &Town, r: &Resident) -> Losses {
    losses_in(town, r, &town.home(r))
}

/// What the home at `home` (live, or in a retired round) holds that a reset loses, read by
/// the helper as `r` in a unit of its own. What could not be read is a note.
pub fn losses_in(town: &Town, r: &Resident, home: &Path) -> Losses {
    let failed = |why: String| Losses {
        resident: r.name.clone(),
        notes: vec![format!("{}: {why}", home.display())],
        ..Default::default()
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return failed(format!("finding the townhall binary: {e}")),
    };
    let properties = [
        format!("BindReadOnlyPaths={}:{BOUND_HOME}", home.display()),
        format!("RuntimeMaxSec={}", WITHIN.as_secs()),
        "MemoryMax=512M".into(),
        "TasksMax=16".into(),
        "CapabilityBoundingSet=CAP_SETUID CAP_SETGID".into(),
        "NoNewPrivileges=yes".into(),
        "PrivateNetwork=yes".into(),
        "PrivateTmp=yes".into(),
        "ProtectSystem=strict".into(),
        "ProtectHome=yes".into(),
    ];
    let mut cmd = crate::units::helper::transient(
        &crate::units::helper::unit_name(&format!("townhall-losses-{}", r.name)),
        &format!("user-{}.slice", r.uid),
        &format!("townhall: what a reset loses of {}", r.name),
        &properties,
    );
    cmd.args([
        "--setenv=HOME=/nonexistent",
        "--setenv=GIT_CONFIG_NOSYSTEM=1",
        "--",
    ])
    .arg(exe);
    cmd.arg("--config")
        .arg(&town.dir)
        .args(["losses", "--resident", &r.name]);
    cmd.stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    match crate::os::output_within(&mut cmd, WITHIN + Duration::from_secs(10)) {
        Ok(out) => serde_json::from_slice(&out)
            .unwrap_or_else(|e| failed(format!("the helper's answer is unreadable ({e})"))),
        Err(e) => failed(format!("not looked at: {e}")),
    }
}

/// Become `uid` for good, as the helper must before it reads anything of the resident's:
/// a changed uid also makes this process non-dumpable, so the resident cannot reach into
/// it (its /proc entries, its mount namespace with the home bound in).
pub fn become_resident(uid: u32) -> std::io::Result<()> {
    let id = uid as libc::c_long;
    // SAFETY: plain syscalls with integer arguments.
    let r = unsafe {
        libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) == 0
            && libc::syscall(libc::SYS_setresgid, id, id, id) == 0
            && libc::syscall(libc::SYS_setresuid, id, id, id) == 0
            && libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    };
    if r {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
