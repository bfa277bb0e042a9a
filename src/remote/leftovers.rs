//! What a failed push leaves in a repository. git receives a push's objects into a
//! quarantine (`objects/incoming-*`) and moves them in only when the hook accepts; it
//! removes the quarantine itself when the hook refuses, but not when its unit is killed
//! (too big, idle, too long). Those are removed here, through descriptors, never
//! following a link: each quarantine that was made before the oldest push still running
//! on the repository began (by its birth time), or all of them when none runs.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use crate::os::{OsContext, OsError};

const DIR: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// When `name` in `dir` was made, where the filesystem records it.
fn born(dir: &OwnedFd, name: &CString) -> Option<SystemTime> {
    // SAFETY: an all-zero statx is a valid buffer for the kernel to fill.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: dir is open, name is NUL-terminated, stx is a valid out-pointer.
    let r = unsafe {
        libc::statx(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_BTIME,
            &mut stx,
        )
    };
    if r != 0 || stx.stx_mask & libc::STATX_BTIME == 0 {
        return None;
    }
    let since = Duration::new(
        u64::try_from(stx.stx_btime.tv_sec).ok()?,
        stx.stx_btime.tv_nsec,
    );
    SystemTime::UNIX_EPOCH.checked_add(since)
}

/// Remove the quarantines of failed pushes in the repository at `repo`; how many.
/// `oldest_running`: when the oldest push still running there began.
pub fn remove(repo: &Path, oldest_running: Option<SystemTime>) -> Result<usize, OsError> {
    let objects = repo.join("objects");
    let what = || format!("removing what failed pushes left in {}", objects.display());
    let dir = open(&objects, DIR, Mode::empty()).os(what)?;
    let mut removed = 0;
    for e in std::fs::read_dir(&objects).os(what)?.flatten() {
        let name = e.file_name();
        if !name.as_bytes().starts_with(b"incoming-") {
            continue;
        }
        let c = CString::new(name.as_bytes()).os(what)?;
        let old_enough = match (oldest_running, born(&dir, &c)) {
            (None, _) => true,
            (Some(oldest), Some(b)) => b < oldest,
            // No birth times here: it may be a running push's; the next failure takes it.
            (Some(_), None) => false,
        };
        if old_enough {
            crate::level::remove_tree_at(&dir, &c).os(what)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantines_older_than_every_running_push_go_and_the_rest_stays() {
        let repo = tempfile::tempdir().unwrap();
        let objects = repo.path().join("objects");
        std::fs::create_dir_all(objects.join("incoming-old/pack")).unwrap();
        std::fs::write(objects.join("incoming-old/pack/tmp_pack_x"), b"half a pack").unwrap();
        std::fs::create_dir_all(objects.join("pack")).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let running_since = SystemTime::now();
        std::thread::sleep(Duration::from_millis(20));
        std::fs::create_dir_all(objects.join("incoming-new")).unwrap();
        let dir = open(&objects, DIR, Mode::empty()).unwrap();
        let birth_times = born(&dir, &CString::new("incoming-old").unwrap()).is_some();
        let n = remove(repo.path(), Some(running_since)).unwrap();
        if birth_times {
            assert_eq!(n, 1);
            assert!(
                !objects.join("incoming-old").exists() && objects.join("incoming-new").exists()
            );
        }
        assert_eq!(
            remove(repo.path(), None).unwrap() + n,
            2,
            "with no push running, all go"
        );
        assert!(
            objects.join("pack").exists(),
            "never the repository's own objects"
        );
    }
}
