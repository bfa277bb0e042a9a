//! Removing what one uid owns under a shared directory (/tmp, /dev/shm, …), walking by file
//! descriptor with O_NOFOLLOW and never crossing into another filesystem, so nothing a
//! resident planted (symlinks, bind mounts, deep trees) can point root elsewhere.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::os::{OsContext, OsError};

const DIR: OFlag = OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC);
/// Below this depth foreign directories are not searched for the uid's files.
const SEARCH_DEPTH: u32 = 32;

fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR
}

fn names(fd: &OwnedFd) -> nix::Result<Vec<std::ffi::CString>> {
    let mut dir = Dir::openat(fd.as_fd(), ".", DIR, Mode::empty())?;
    Ok(dir
        .iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect())
}

/// Remove `name` in `parent` and, for a directory, everything below it (same filesystem).
fn remove_tree(parent: &OwnedFd, name: &std::ffi::CStr, st: &FileStat, dev: u64) -> nix::Result<u64> {
    let mut n = 0;
    if is_dir(st) {
        let fd = openat(parent, name, DIR, Mode::empty())?;
        for child in names(&fd)? {
            let cst = match fstatat(&fd, child.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(s) => s,
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            if cst.st_dev != dev {
                return Err(Errno::EXDEV); // a mount inside: leave the directory in place
            }
            n += remove_tree(&fd, child.as_c_str(), &cst, dev)?;
        }
        unlinkat(parent, name, UnlinkatFlags::RemoveDir)?;
    } else {
        unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)?;
    }
    Ok(n + 1)
}

fn search(fd: &OwnedFd, uid: u32, dev: u64, depth: u32, errors: &mut Vec<String>, here: &Path) -> u64 {
    let mut removed = 0;
    let Ok(entries) = names(fd) else { return 0 };
    for name in entries {
        let path = here.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name.as_bytes()));
        let st = match fstatat(fd, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(s) if s.st_dev == dev => s,
            _ => continue,
        };
        if st.st_uid == uid {
            match remove_tree(fd, name.as_c_str(), &st, dev) {
                Ok(n) => removed += n,
                Err(Errno::ENOENT) => {}
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            }
        } else if is_dir(&st) && depth < SEARCH_DEPTH
            && let Ok(child) = openat(fd, name.as_c_str(), DIR, Mode::empty())
        {
            removed += search(&child, uid, dev, depth + 1, errors, &path);
        }
    }
    removed
}

/// Remove every entry under `dir` that `uid` owns (with all it holds); `dir` itself stays.
/// Returns how many entries went; entries that could not be removed are an error naming them.
pub fn sweep_owned(uid: u32, dir: &Path) -> Result<u64, OsError> {
    let what = || format!("removing the files of uid {uid} under {}", dir.display());
    let fd = match nix::fcntl::open(dir, DIR, Mode::empty()) {
        Err(Errno::ENOENT) => return Ok(0),
        r => r.os(what)?,
    };
    let dev = fstat(&fd).os(what)?.st_dev;
    let mut errors = Vec::new();
    let n = search(&fd, uid, dev, 0, &mut errors, dir);
    if errors.is_empty() { Ok(n) } else { Err(OsError::new(what(), format!("{n} removed, left: {}", errors.join(", ")))) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, symlink};

    #[test]
    fn only_the_uids_entries_go_and_symlinks_are_not_followed() {
        let me = nix::unistd::geteuid().as_raw();
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("precious"), "x").unwrap();
        let shared = root.path().join("shared");
        std::fs::create_dir_all(shared.join("deep/er")).unwrap();
        std::fs::write(shared.join("deep/er/mine"), "x").unwrap();
        symlink(outside.path(), shared.join("link")).unwrap();
        // Everything here is owned by the test's uid, so sweep it as "someone else" first.
        assert_eq!(sweep_owned(me.wrapping_add(12345), &shared).unwrap(), 0);
        assert!(shared.join("deep/er/mine").exists());
        let n = sweep_owned(me, &shared).unwrap();
        assert_eq!(n, 4, "deep, er, mine and the link");
        assert!(shared.exists() && std::fs::read_dir(&shared).unwrap().next().is_none());
        assert_eq!(std::fs::read(outside.path().join("precious")).unwrap(), b"x");
        assert_eq!(std::fs::metadata(outside.path()).unwrap().uid(), me);
    }

    #[test]
    fn a_missing_dir_is_nothing_to_do() {
        assert_eq!(sweep_owned(1, Path::new("/nonexistent/townhall")).unwrap(), 0);
    }
}
