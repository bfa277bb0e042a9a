//! The shared places a resident can write to outside its home: every directory any uid
//! may write to (`/tmp`, `/run/lock`, `/dev/shm`, …, and whatever else the host has), found
//! by walking the host rather than listed by hand. The walk reads the mount table, skips
//! read-only and kernel filesystems and the town's own trees, descends only where any uid
//! may search, and stops at the first world-writable directory on each path (levelling
//! searches below it). It costs a walk of the host, so the daemon makes it at start and
//! after each round and keeps the list in the state dir; a reset reads that list.

use std::collections::VecDeque;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::os::OsError;

/// Kernel and virtual filesystems: nothing a resident writes lives there, or it is not
/// files (cgroups, /proc, /sys, pty nodes).
const VIRTUAL: [&str; 17] = [
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "bpf",
    "configfs",
    "fusectl",
    "pstore",
    "efivarfs",
    "devpts",
    "autofs",
    "binfmt_misc",
    "nsfs",
    "rpc_pipefs",
];
/// Bounds on one walk: the deepest it goes and the most entries it reads.
const DEPTH: usize = 24;
const ENTRIES: usize = 2_000_000;
/// Where the last walk's list is kept.
const CACHE: &str = "shared-dirs.json";
/// Places a resident writes through a program of the system's (crontab, at), not world-
/// writable themselves; and per uid, its runtime dir.
const SPOOLS: [&str; 2] = ["/var/spool/cron", "/var/spool/at"];

/// A mount point the walk does not enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub point: PathBuf,
    pub skip: bool,
}

/// The mount table (/proc/self/mountinfo), each mount with whether the walk skips it.
pub fn mounts(mountinfo: &str) -> Vec<Mount> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            let point = unescape(f.get(4)?);
            let ro = f.get(5)?.split(',').any(|o| o == "ro");
            let fstype = f.get(sep + 1)?;
            Some(Mount {
                point: PathBuf::from(point),
                skip: ro || VIRTUAL.contains(fstype),
            })
        })
        .collect()
}

/// mountinfo writes a space, tab, newline and backslash in a path as `\NNN` (octal).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The world-writable directories under `root`, each the first on its path. `skip` names
/// trees not to enter (the town's, kernel filesystems, read-only mounts).
pub fn world_writable(root: &Path, skip: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut queue = VecDeque::from([(root.to_path_buf(), 0usize)]);
    let mut read = 0;
    while let Some((dir, depth)) = queue.pop_front() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            read += 1;
            if read > ENTRIES {
                tracing::warn!("the walk for shared directories stopped after {ENTRIES} entries");
                return found;
            }
            let path = e.path();
            // Never through a symlink: lstat, and only real directories.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_dir() || skip(&path) {
                continue;
            }
            let mode = meta.permissions().mode();
            if mode & 0o002 != 0 {
                found.push(path);
            } else if mode & 0o001 != 0 && depth < DEPTH {
                queue.push_back((path, depth + 1));
            }
        }
    }
    found.sort();
    found
}

/// Walk the host for its world-writable directories, leaving out the town's own trees.
pub fn discover(town: &crate::config::Town) -> Vec<PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| mounts(&t))
        .unwrap_or_default();
    let own = [
        town.agents.clone(),
        town.persist.clone(),
        town.state.clone(),
        town.btrfs.volume.clone(),
        PathBuf::from("/run/user"),
    ];
    let skip =
        |p: &Path| own.iter().any(|o| p == o) || table.iter().any(|m| m.skip && m.point == p);
    world_writable(Path::new("/"), &skip)
}

/// Walk again and keep the list for the resets to come; the list.
pub fn refresh(town: &crate::config::Town) -> Result<Vec<PathBuf>, OsError> {
    let found = discover(town);
    crate::os::write_state(&town.state.join(CACHE), &found)?;
    Ok(found)
}

/// Where levelling looks for each resident's files: the kept list of world-writable
/// directories (walked now when there is none yet) and the spools.
pub fn dirs(town: &crate::config::Town) -> Vec<PathBuf> {
    let help = "it is made again at the daemon's next start: remove it";
    let ww = match crate::os::read_state::<Vec<PathBuf>>(&town.state.join(CACHE), help) {
        Ok(Some(list)) => list,
        Ok(None) => refresh(town).unwrap_or_else(|e| {
            tracing::warn!("{e}");
            discover(town)
        }),
        Err(e) => {
            tracing::warn!("{e}");
            discover(town)
        }
    };
    let mut all: Vec<PathBuf> = ww
        .into_iter()
        .chain(SPOOLS.iter().map(PathBuf::from))
        .collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_table_says_which_to_skip() {
        let info = "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
                    23 22 0:22 / /proc rw,nosuid - proc proc rw\n\
                    24 22 0:23 / /usr ro,relatime - ext4 /dev/vdb ro\n\
                    25 22 0:24 / /run/lock rw,nosuid - tmpfs tmpfs rw\n\
                    26 22 0:25 / /mnt/with\\040space rw - tmpfs tmpfs rw\n";
        let m = mounts(info);
        let skip: Vec<(&str, bool)> = m
            .iter()
            .map(|m| (m.point.to_str().unwrap(), m.skip))
            .collect();
        assert_eq!(
            skip,
            [
                ("/", false),
                ("/proc", true),
                ("/usr", true),
                ("/run/lock", false),
                ("/mnt/with space", false)
            ]
        );
    }

    #[test]
    fn the_walk_finds_each_world_writable_dir_first_on_its_path_and_never_follows_a_link() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let mk = |p: &str, mode: u32| {
            std::fs::create_dir_all(r.join(p)).unwrap();
            std::fs::set_permissions(r.join(p), std::fs::Permissions::from_mode(mode)).unwrap();
        };
        mk("run", 0o755);
        mk("run/lock", 0o1777);
        mk("run/lock/inner", 0o777);
        mk("var/lib/php/sessions", 0o1733);
        mk("var/lib/secret/open", 0o777);
        std::fs::set_permissions(
            r.join("var/lib/secret"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        mk("town/agents/ada", 0o777);
        mk("elsewhere", 0o777);
        std::os::unix::fs::symlink(r.join("elsewhere"), r.join("run/link")).unwrap();
        let skip = |p: &Path| p == r.join("town");
        let found = world_writable(r, &skip);
        let rel: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(r).unwrap().display().to_string())
            .collect();
        assert_eq!(
            rel,
            ["elsewhere", "run/lock", "var/lib/php/sessions"],
            "not below one found, not where no one may search, not the town's, not through a link"
        );
    }
}
