//! The host settings a town relies on, read from /proc and /sys: `townhall check --host`
//! and a warning in `townhall status` name each one that is missing and what to set.

use std::path::Path;

/// One setting that is not as a town needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub setting: String,
    pub found: String,
    pub why: String,
    pub fix: String,
}

/// Where the readings come from, so the decisions are tested on made-up hosts.
pub trait Host {
    fn read(&self, path: &str) -> Option<String>;
    /// The names of the entries of a directory (none when it cannot be read).
    fn names(&self, dir: &str) -> Vec<String>;
}

/// A made-up host: path → contents; a path it does not hold cannot be read.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct FakeHost(pub std::collections::HashMap<String, String>);

#[cfg(test)]
impl FakeHost {
    pub fn with(entries: &[(&str, &str)]) -> Self {
        Self(
            entries
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
        )
    }
}

#[cfg(test)]
impl Host for FakeHost {
    fn read(&self, path: &str) -> Option<String> {
        self.0.get(path).cloned()
    }

    fn names(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        self.0
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter(|rest| !rest.contains('/'))
            .map(String::from)
            .collect()
    }
}

/// The machine itself.
pub struct ThisHost;

impl Host for ThisHost {
    fn read(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(Path::new(path)).ok()
    }

    fn names(&self, dir: &str) -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Where journald reads its drop-ins from, lowest precedence first.
const JOURNALD_DIRS: [&str; 4] = [
    "/usr/lib/systemd/journald.conf.d",
    "/usr/local/lib/systemd/journald.conf.d",
    "/run/systemd/journald.conf.d",
    "/etc/systemd/journald.conf.d",
];

/// journald's SplitMode as its files set it: the main file, then the drop-ins by name
/// (of one name, the one in the directory that takes precedence), the last setting winning.
fn split_mode(host: &impl Host) -> String {
    let mut dropins: std::collections::BTreeMap<String, String> = Default::default();
    for dir in JOURNALD_DIRS {
        for name in host.names(dir).into_iter().filter(|n| n.ends_with(".conf")) {
            dropins.insert(name.clone(), format!("{dir}/{name}"));
        }
    }
    let files =
        std::iter::once("/etc/systemd/journald.conf".to_string()).chain(dropins.into_values());
    let mut mode = "uid".to_string();
    for text in files.filter_map(|f| host.read(&f)) {
        for l in text.lines().map(str::trim) {
            if let Some(v) = l.strip_prefix("SplitMode=") {
                mode = v.trim().to_string();
            }
        }
    }
    mode
}

fn sysctl(host: &impl Host, name: &str, want: u32, why: &str, out: &mut Vec<Finding>) {
    let path = format!("/proc/sys/{}", name.replace('.', "/"));
    let found = host.read(&path).map(|v| v.trim().to_string());
    if found
        .as_deref()
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|v| v >= want)
    {
        return;
    }
    out.push(Finding {
        setting: name.into(),
        found: found.unwrap_or_else(|| "unreadable".into()),
        why: why.into(),
        fix: format!(
            "sysctl -w {name}={want}, and `{name} = {want}` in /etc/sysctl.d/50-townhall.conf"
        ),
    });
}

/// The mount options of /proc as the supervisor sees them.
fn proc_options(host: &impl Host) -> Option<String> {
    let mounts = host.read("/proc/self/mountinfo")?;
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(4) == Some(&"/proc")).then(|| {
            // per-mount options, then after " - " the superblock's (where hidepid shows)
            let sep = f.iter().position(|x| *x == "-").unwrap_or(f.len());
            format!(
                "{},{}",
                f.get(5).unwrap_or(&""),
                f.get(sep + 3).unwrap_or(&"")
            )
        })
    })
}

/// Everything a town needs from its host that is missing here.
pub fn check_host(host: &impl Host) -> Vec<Finding> {
    let mut out = Vec::new();
    sysctl(
        host,
        "fs.protected_symlinks",
        1,
        "root must never follow a symlink a resident planted in /tmp or its own dirs",
        &mut out,
    );
    sysctl(
        host,
        "fs.protected_hardlinks",
        1,
        "a resident must not hard-link files it does not own (/etc/shadow into /persist)",
        &mut out,
    );
    sysctl(
        host,
        "fs.protected_regular",
        2,
        "root must not open a resident's regular file in a sticky dir by name",
        &mut out,
    );
    sysctl(
        host,
        "fs.protected_fifos",
        2,
        "root must not write into a fifo a resident planted in /tmp",
        &mut out,
    );
    match proc_options(host) {
        Some(o) if o.split(',').any(|x| x == "hidepid=2" || x == "hidepid=invisible") => {}
        found => out.push(Finding {
            setting: "/proc hidepid".into(),
            found: found.unwrap_or_else(|| "no /proc mount found".into()),
            why: "without it every resident sees every other's command lines and environment".into(),
            fix: "mount -o remount,hidepid=invisible /proc, and `proc /proc proc hidepid=invisible 0 0` in /etc/fstab (systemd-logind needs gid= for its group if it reads /proc)".into(),
        }),
    }
    let split = split_mode(host);
    if split != "none" {
        out.push(Finding {
            setting: "journald SplitMode".into(),
            found: split,
            why: "a resident reads its own journal file: a line it logs in one round is there for it in the next (levelling removes such files at each reset, with the resident's log lines in them)".into(),
            fix: "install dist/townhall-journald.conf as /etc/systemd/journald.conf.d/townhall.conf (SplitMode=none) and restart systemd-journald".into(),
        });
    }
    let controllers = host.read("/sys/fs/cgroup/cgroup.controllers");
    let missing: Vec<&str> = ["memory", "pids", "cpu"]
        .into_iter()
        .filter(|c| {
            !controllers
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .any(|x| x == *c)
        })
        .collect();
    if !missing.is_empty() {
        out.push(Finding {
            setting: "cgroup v2 controllers".into(),
            found: controllers.map_or("no unified cgroup hierarchy (cgroup v1)".into(), |c| format!("controllers: {}", c.trim())),
            why: format!("without {} the residents' memory, CPU and task limits are not enforced by the kernel", missing.join(", ")),
            fix: "boot with systemd.unified_cgroup_hierarchy=1 (the default since systemd 247)".into(),
        });
    }
    if !NFT_DIRS
        .iter()
        .any(|d| host.names(d).iter().any(|n| n == "nft"))
    {
        out.push(Finding {
            setting: "nftables (nft)".into(),
            found: format!("no nft in {}", NFT_DIRS.join(", ")),
            why: "a town with a gate loads its egress rules with nft: without it every resident's sockets reach any address".into(),
            fix: "apt install nftables (NixOS: the module puts it on the supervisor's path)".into(),
        });
    }
    out
}

/// Where `nft` is looked for: the PATH the supervisor's unit gets, and NixOS's.
const NFT_DIRS: [&str; 5] = [
    "/usr/sbin",
    "/sbin",
    "/usr/bin",
    "/usr/local/sbin",
    "/run/current-system/sw/bin",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hardened_host_has_no_findings_and_a_default_one_says_what_to_set() {
        let good = FakeHost::with(&[
            ("/proc/sys/fs/protected_symlinks", "1\n"),
            ("/proc/sys/fs/protected_hardlinks", "1\n"),
            ("/proc/sys/fs/protected_regular", "2\n"),
            ("/proc/sys/fs/protected_fifos", "2\n"),
            (
                "/proc/self/mountinfo",
                "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw,hidepid=invisible\n",
            ),
            (
                "/sys/fs/cgroup/cgroup.controllers",
                "cpuset cpu io memory pids\n",
            ),
            (
                "/usr/lib/systemd/journald.conf.d/10-vendor.conf",
                "[Journal]\nSplitMode=uid\n",
            ),
            (
                "/etc/systemd/journald.conf.d/townhall.conf",
                "[Journal]\nSplitMode=none\n",
            ),
            ("/usr/sbin/nft", ""),
        ]);
        assert_eq!(check_host(&good), []);
        let bare = FakeHost::with(&[("/proc/sys/fs/protected_symlinks", "0\n")]);
        let f = check_host(&bare);
        let names: Vec<_> = f.iter().map(|f| f.setting.as_str()).collect();
        assert_eq!(
            names,
            [
                "fs.protected_symlinks",
                "fs.protected_hardlinks",
                "fs.protected_regular",
                "fs.protected_fifos",
                "/proc hidepid",
                "journald SplitMode",
                "cgroup v2 controllers",
                "nftables (nft)"
            ]
        );
        assert!(
            f[0].fix.contains("sysctl -w fs.protected_symlinks=1"),
            "{:?}",
            f[0]
        );
        assert_eq!(f[0].found, "0");
    }
}
