//! btrfs subvolumes through the kernel's ioctls (no `btrfs` binary, no C library).

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::statfs::{BTRFS_SUPER_MAGIC, statfs};

use crate::os::{OsContext, OsError};

pub trait Subvolumes {
    /// True when `path` is the root of a btrfs subvolume.
    fn is_subvolume(&self, path: &Path) -> Result<bool, OsError>;
    fn is_readonly(&self, path: &Path) -> Result<bool, OsError>;
    fn create(&self, path: &Path) -> Result<(), OsError>;
    fn snapshot(&self, source: &Path, dest: &Path, readonly: bool) -> Result<(), OsError>;
    /// Delete a subvolume and every subvolume nested anywhere inside it, finding them by
    /// id and reaching them through descriptors: never by a path inside it.
    fn delete_recursive(&self, path: &Path) -> Result<(), OsError>;
    /// Make the top of `path` root's, mode 0700: nothing below it is reachable by path for
    /// anyone else any more (a round being retired).
    fn seal(&self, path: &Path) -> Result<(), OsError>;
    /// Rename `from` to `to` (same directory), which must not exist.
    fn rename(&self, from: &Path, to: &Path) -> Result<(), OsError>;
    /// Swap two subvolumes in one atomic rename (RENAME_EXCHANGE): neither path is ever missing.
    fn exchange(&self, a: &Path, b: &Path) -> Result<(), OsError>;
    /// The subvolumes directly inside `dir`, by name.
    fn list(&self, dir: &Path) -> Result<Vec<PathBuf>, OsError>;
    /// The kernel's id of the subvolume at `path` (never followed): ids are root's to give
    /// and stay with a subvolume however it is renamed, so they say which one is where.
    fn id(&self, path: &Path) -> Result<u64, OsError>;
    /// Clear a subvolume's read-only flag (never followed): the kernel moves a read-only
    /// subvolume to another directory no more than it changes what is in it.
    fn make_writable(&self, path: &Path) -> Result<(), OsError>;
}

/// `struct btrfs_ioctl_vol_args_v2` from linux/btrfs.h.
#[repr(C)]
pub struct VolArgsV2 {
    fd: i64,
    transid: u64,
    flags: u64,
    unused: [u64; 4],
    name: [u8; 4040],
}

const SUBVOL_RDONLY: u64 = 1 << 1;
/// Inode number of every subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID).
const SUBVOL_ROOT_INO: u64 = 256;

/// BTRFS_SUBVOL_SPEC_BY_ID: the subvolume to delete is named by its id.
const SUBVOL_SPEC_BY_ID: u64 = 1 << 4;

impl VolArgsV2 {
    /// The arguments that delete subvolume `id` wherever it is (kernel 5.7 and later).
    pub(super) fn by_id(id: u64) -> Box<Self> {
        let mut args = zeroed::<VolArgsV2>();
        args.flags = SUBVOL_SPEC_BY_ID;
        // The id shares the name's place (a union in the kernel's struct).
        args.name[..8].copy_from_slice(&id.to_ne_bytes());
        args
    }

    /// Set the name, which must fit (with its terminating zero).
    pub(super) fn set_name(&mut self, name: &[u8]) -> Result<(), BadName> {
        if name.len() >= self.name.len() || name.contains(&0) || name.contains(&b'/') {
            return Err(BadName(String::from_utf8_lossy(name).into()));
        }
        self.name[..name.len()].copy_from_slice(name);
        Ok(())
    }
}

nix::ioctl_write_ptr!(snap_create_v2, 0x94, 23, VolArgsV2);
nix::ioctl_write_ptr!(subvol_create_v2, 0x94, 24, VolArgsV2);
nix::ioctl_read!(subvol_getflags, 0x94, 25, u64);
nix::ioctl_write_ptr!(snap_destroy_v2, 0x94, 63, VolArgsV2);

/// The real kernel interface.
#[derive(Debug, Default)]
pub struct Btrfs;

fn zeroed<T>() -> Box<T> {
    // SAFETY: only used for the plain-old-data ioctl structs above, for which all-zero is valid.
    unsafe { Box::new(std::mem::zeroed()) }
}

/// A name the kernel would not take for a subvolume: too long, or with a `/` or a zero.
#[derive(Debug, thiserror::Error)]
#[error("bad subvolume name {0:?}")]
pub(super) struct BadName(String);

fn vol_args(name: &str) -> Result<Box<VolArgsV2>, BadName> {
    let mut args = zeroed::<VolArgsV2>();
    args.set_name(name.as_bytes())?;
    Ok(args)
}

/// Open the parent directory of `path` and return it with the last component.
fn parent_and_name(path: &Path) -> Result<(File, String), String> {
    let parent = path.parent().ok_or("no parent directory")?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("no usable file name")?;
    let dir = File::open(if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    })
    .map_err(|e| format!("opening {}: {e}", parent.display()))?;
    Ok((dir, name.to_string()))
}

impl Subvolumes for Btrfs {
    fn is_subvolume(&self, path: &Path) -> Result<bool, OsError> {
        let what = || format!("inspecting {}", path.display());
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(OsError::new(what(), e)),
        };
        if !meta.is_dir() || meta.ino() != SUBVOL_ROOT_INO {
            return Ok(false);
        }
        Ok(statfs(path).os(what)?.filesystem_type() == BTRFS_SUPER_MAGIC)
    }

    fn is_readonly(&self, path: &Path) -> Result<bool, OsError> {
        let what = || format!("reading the flags of {}", path.display());
        let dir = File::open(path).os(what)?;
        let mut flags = 0u64;
        // SAFETY: fd open, flags is a valid u64 to write to.
        unsafe { subvol_getflags(dir.as_raw_fd(), &mut flags) }.os(what)?;
        Ok(flags & SUBVOL_RDONLY != 0)
    }

    fn create(&self, path: &Path) -> Result<(), OsError> {
        let what = || format!("creating subvolume {}", path.display());
        let (parent, name) = parent_and_name(path).os(what)?;
        let args = vol_args(&name).os(what)?;
        // SAFETY: fd open, args valid for the duration of the call.
        unsafe { subvol_create_v2(parent.as_raw_fd(), &*args) }.os(what)?;
        Ok(())
    }

    fn snapshot(&self, source: &Path, dest: &Path, readonly: bool) -> Result<(), OsError> {
        let what = || format!("snapshotting {} to {}", source.display(), dest.display());
        let src = File::open(source).os(what)?;
        let (parent, name) = parent_and_name(dest).os(what)?;
        let mut args = vol_args(&name).os(what)?;
        args.fd = i64::from(src.as_raw_fd());
        args.flags = if readonly { SUBVOL_RDONLY } else { 0 };
        // SAFETY: both fds open, args valid for the duration of the call.
        unsafe { snap_create_v2(parent.as_raw_fd(), &*args) }.os(what)?;
        Ok(())
    }

    fn delete_recursive(&self, path: &Path) -> Result<(), OsError> {
        let what = || format!("deleting subvolume {}", path.display());
        let (parent, name) = parent_and_name(path).os(what)?;
        let name = std::ffi::CString::new(name).os(what)?;
        super::subvolume_tree::delete_tree(&OwnedFd::from(parent), &name).os(what)?;
        Ok(())
    }

    fn seal(&self, path: &Path) -> Result<(), OsError> {
        let what = || format!("making {} root's alone", path.display());
        let (parent, name) = parent_and_name(path).os(what)?;
        let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(&parent, name.as_str(), dir, Mode::empty()).os(what)?;
        nix::unistd::fchown(
            &fd,
            Some(nix::unistd::Uid::from_raw(0)),
            Some(nix::unistd::Gid::from_raw(0)),
        )
        .os(what)?;
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(0o700)).os(what)
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<(), OsError> {
        let what = || format!("renaming {} to {}", from.display(), to.display());
        let flags = nix::fcntl::RenameFlags::RENAME_NOREPLACE;
        nix::fcntl::renameat2(nix::fcntl::AT_FDCWD, from, nix::fcntl::AT_FDCWD, to, flags).os(what)
    }

    fn exchange(&self, a: &Path, b: &Path) -> Result<(), OsError> {
        let what = || format!("exchanging {} with {}", a.display(), b.display());
        let flags = nix::fcntl::RenameFlags::RENAME_EXCHANGE;
        nix::fcntl::renameat2(nix::fcntl::AT_FDCWD, a, nix::fcntl::AT_FDCWD, b, flags).os(what)
    }

    fn list(&self, dir: &Path) -> Result<Vec<PathBuf>, OsError> {
        let what = || format!("listing {}", dir.display());
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).os(what)? {
            let e = e.os(what)?;
            // Only real directories: a symlink's target is never listed as ours.
            if e.file_type().os(what)?.is_dir() && self.is_subvolume(&e.path())? {
                out.push(e.path());
            }
        }
        out.sort();
        Ok(out)
    }

    fn id(&self, path: &Path) -> Result<u64, OsError> {
        let what = || format!("reading the subvolume id of {}", path.display());
        let (parent, name) = parent_and_name(path).os(what)?;
        let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(&parent, name.as_str(), dir, Mode::empty()).os(what)?;
        super::subvolume_tree::subvolume_id(&fd).os(what)
    }

    fn make_writable(&self, path: &Path) -> Result<(), OsError> {
        let what = || format!("making {} writable", path.display());
        let (parent, name) = parent_and_name(path).os(what)?;
        let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(&parent, name.as_str(), dir, Mode::empty()).os(what)?;
        super::subvolume_tree::make_writable(&fd).os(what)
    }
}

#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::FakeSubvolumes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_structs_match_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<VolArgsV2>(), 4096);
    }

    #[test]
    fn names_with_slashes_are_refused() {
        assert!(vol_args("a/b").is_err());
        assert!(vol_args(&"x".repeat(5000)).is_err());
        assert!(vol_args("@agents").is_ok());
    }
}
