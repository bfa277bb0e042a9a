//! Removing what one uid owns under a shared directory (/tmp, /dev/shm, …), walking by file
//! descriptor with O_NOFOLLOW and never crossing into another filesystem, so nothing a
//! resident planted (symlinks, bind mounts, deep trees) can point root elsewhere.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::os::{OsContext, OsError};

const DIR: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);
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

/// A directory being emptied: its name in its parent, its inode, what is left to visit.
struct Level {
    name: CString,
    ino: u64,
    subdirs: Vec<CString>,
    listed: u32,
}

/// Times a directory is listed again for entries made while it was emptied.
const RELISTS: u32 = 3;
/// Levels of one tree removed at most (what root keeps per level is a name and the
/// subdirectories left to visit): a deeper tree is left and reported.
const MAX_DEPTH: usize = 100_000;

/// Unlink every entry of `fd` that is not a directory; the names of those that are.
fn empty_files(fd: &OwnedFd, dev: u64, n: &mut u64) -> nix::Result<Vec<CString>> {
    let mut dirs = Vec::new();
    for child in names(fd)? {
        let cst = match fstatat(fd, child.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(s) => s,
            Err(Errno::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        if cst.st_dev != dev {
            return Err(Errno::EXDEV); // a mount inside: leave the directory in place
        }
        if is_dir(&cst) {
            dirs.push(child);
        } else {
            match unlinkat(fd, child.as_c_str(), UnlinkatFlags::NoRemoveDir) {
                Ok(()) => *n += 1,
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(dirs)
}

/// Open directory `name` in `dir` and check it is the inode `lstat` saw, on `dev`.
fn enter(dir: &OwnedFd, name: &CStr, ino: u64, dev: u64) -> nix::Result<OwnedFd> {
    let fd = openat(dir, name, DIR, Mode::empty())?;
    let st = fstat(&fd)?;
    if st.st_ino != ino || st.st_dev != dev {
        return Err(Errno::ESTALE);
    }
    Ok(fd)
}

/// Remove `name` in `parent` and, for a directory, everything below it (same filesystem).
/// One directory is open at a time, whatever the depth: a level is left by `..`, checked
/// to be the directory it was entered from, so a tree moved meanwhile stops the removal.
fn remove_tree(parent: &OwnedFd, name: &CStr, st: &FileStat, dev: u64) -> nix::Result<u64> {
    if !is_dir(st) {
        unlinkat(parent, name, UnlinkatFlags::NoRemoveDir)?;
        return Ok(1);
    }
    let mut n = 0;
    let mut fd = enter(parent, name, st.st_ino, dev)?;
    let mut stack = vec![Level {
        name: name.to_owned(),
        ino: st.st_ino,
        subdirs: vec![],
        listed: 0,
    }];
    while let Some(top) = stack.last_mut() {
        if top.subdirs.is_empty()
            && top.listed < RELISTS
            && (top.listed == 0 || !names(&fd)?.is_empty())
        {
            top.subdirs = empty_files(&fd, dev, &mut n)?;
            top.listed += 1;
        }
        if let Some(sub) = top.subdirs.pop() {
            let cst = match fstatat(&fd, sub.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(s) if is_dir(&s) && s.st_dev == dev => s,
                _ => continue,
            };
            if stack.len() >= MAX_DEPTH {
                return Err(Errno::ELOOP);
            }
            fd = enter(&fd, &sub, cst.st_ino, dev)?;
            stack.push(Level {
                name: sub,
                ino: cst.st_ino,
                subdirs: vec![],
                listed: 0,
            });
            continue;
        }
        let done = stack.pop().expect("a level");
        match stack.last() {
            None => {
                drop(fd);
                unlinkat(parent, done.name.as_c_str(), UnlinkatFlags::RemoveDir)?;
                return Ok(n + 1);
            }
            Some(up) => {
                fd = enter(&fd, c"..", up.ino, dev)?;
                match unlinkat(&fd, done.name.as_c_str(), UnlinkatFlags::RemoveDir) {
                    Ok(()) | Err(Errno::ENOENT) => n += 1,
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(n)
}

/// Remove `name` in `dir` with all it holds, never following a link or leaving the
/// filesystem: for trees root must not be pointed out of (a failed push's quarantine).
pub fn remove_tree_at(dir: &OwnedFd, name: &CStr) -> nix::Result<u64> {
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let dev = fstat(dir)?.st_dev;
    if st.st_dev != dev {
        return Err(Errno::EXDEV);
    }
    remove_tree(dir, name, &st, dev)
}

fn search(
    fd: &OwnedFd,
    uid: u32,
    dev: u64,
    depth: u32,
    errors: &mut Vec<String>,
    here: &Path,
) -> u64 {
    let mut removed = 0;
    let Ok(entries) = names(fd) else { return 0 };
    for name in entries {
        let path = here
            .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name.as_bytes()));
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
        } else if is_dir(&st)
            && depth < SEARCH_DEPTH
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
    if errors.is_empty() {
        Ok(n)
    } else {
        Err(OsError::new(
            what(),
            format!("{n} removed, left: {}", errors.join(", ")),
        ))
    }
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
        assert_eq!(
            std::fs::read(outside.path().join("precious")).unwrap(),
            b"x"
        );
        assert_eq!(std::fs::metadata(outside.path()).unwrap().uid(), me);
    }

    #[test]
    fn a_tree_deeper_than_path_max_and_the_descriptors_goes_with_one_open_at_a_time() {
        let me = nix::unistd::geteuid().as_raw();
        // The second half: run again as a child allowed 64 descriptors (below).
        if let Some(dir) = std::env::var_os("TOWNHALL_TEST_DEEP_TREE") {
            assert_eq!(sweep_owned(me, Path::new(&dir)).unwrap(), 3003);
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        // 3000 levels, built by descriptor (the path is longer than PATH_MAX).
        let mut fd = nix::fcntl::open(&shared, DIR, Mode::empty()).unwrap();
        for i in 0..3000 {
            nix::sys::stat::mkdirat(&fd, "d", Mode::from_bits_truncate(0o700)).unwrap();
            fd = openat(&fd, "d", DIR, Mode::empty()).unwrap();
            if i % 1000 == 0 {
                std::fs::write(
                    format!("/proc/self/fd/{}/f", std::os::fd::AsRawFd::as_raw_fd(&fd)),
                    b"x",
                )
                .unwrap();
            }
        }
        drop(fd);
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.args(["--exact", "level::sweep::tests::a_tree_deeper_than_path_max_and_the_descriptors_goes_with_one_open_at_a_time"]);
        child
            .env("TOWNHALL_TEST_DEEP_TREE", &shared)
            .stdout(std::process::Stdio::null());
        // SAFETY: setrlimit is async-signal-safe and touches nothing else.
        unsafe {
            child.pre_exec(|| {
                let l = libc::rlimit {
                    rlim_cur: 64,
                    rlim_max: 64,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &l) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        assert!(
            child.status().unwrap().success(),
            "the sweep failed with 64 descriptors for 3000 levels"
        );
        assert!(std::fs::read_dir(&shared).unwrap().next().is_none());
    }

    #[test]
    fn a_missing_dir_is_nothing_to_do() {
        assert_eq!(
            sweep_owned(1, Path::new("/nonexistent/townhall")).unwrap(),
            0
        );
    }
}
