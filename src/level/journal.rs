//! A resident's own journal files. With journald's default SplitMode=uid, each resident
//! gets `user-UID.journal` files it may read: a line it logs in one round would be there
//! for it in the next. The town sets SplitMode=none (dist/townhall-journald.conf) and
//! levelling removes whatever such files are left, after asking journald to archive the
//! one it writes (its lines go with them; root keeps the system journal).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::os::{OsContext, OsError};

const ROOTS: [&str; 2] = ["/var/log/journal", "/run/log/journal"];
const ROTATE_WITHIN: Duration = Duration::from_secs(5);

/// `user-UID.journal`, its archived `user-UID@….journal` and a corrupt `….journal~`.
pub fn is_users(name: &str, uid: u32) -> bool {
    let Some(rest) = name.strip_prefix(&format!("user-{uid}")) else {
        return false;
    };
    (rest.starts_with('.') || rest.starts_with('@'))
        && (rest.ends_with(".journal") || rest.ends_with(".journal~"))
}

/// The uid's journal files, in every machine's directory under the journal roots.
fn files(uid: u32) -> Vec<PathBuf> {
    let machines = ROOTS
        .iter()
        .filter_map(|r| std::fs::read_dir(r).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()));
    machines
        .filter_map(|m| std::fs::read_dir(m).ok())
        .flat_map(|d| d.flatten())
        .filter(|e| {
            e.file_type().is_ok_and(|t| t.is_file())
                && e.file_name().to_str().is_some_and(|n| is_users(n, uid))
        })
        .map(|e| e.path())
        .collect()
}

/// Ask journald to close its files and start new ones, waiting a bounded time.
fn rotate() {
    let Ok(mut child) = Command::new("journalctl")
        .arg("--rotate")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return;
    };
    let start = Instant::now();
    while start.elapsed() < ROTATE_WITHIN {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Remove the uid's journal files; how many.
pub fn clear(uid: u32) -> Result<u32, OsError> {
    if files(uid).is_empty() {
        return Ok(0);
    }
    rotate();
    let mut n = 0;
    for f in files(uid) {
        std::fs::remove_file(&f).os(|| format!("removing {}", Path::new(&f).display()))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_uids_own_journal_files_are_its() {
        for yes in [
            "user-1100.journal",
            "user-1100@0005f3a2-0000000000000001-0005f3a2.journal",
            "user-1100@0005f3a2.journal~",
        ] {
            assert!(is_users(yes, 1100), "{yes}");
        }
        for no in [
            "user-11000.journal",
            "user-1101.journal",
            "system.journal",
            "user-1100.journal.bak",
            "user-1100",
        ] {
            assert!(!is_users(no, 1100), "{no}");
        }
    }
}
