//! Files in homes and in /persist, made by root without ever following a symlink a
//! resident could have planted: every path below a trusted base is walked with O_NOFOLLOW.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fchmod, mkdirat};
use nix::unistd::{Gid, Uid, fchown, fchownat, symlinkat};

use crate::os::{OsContext, OsError};

/// Who owns a created file, and its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

/// What a path is, as seen with lstat, plus where it really leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: Kind,
    pub canonical: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// The owner of the path itself (lstat), not of what a symlink leads to.
    pub uid: u32,
}

pub trait Files {
    /// None when nothing is there.
    fn inspect(&self, path: &Path) -> Result<Option<Node>, OsError>;
    /// Create `base/rel` and any missing parents with `owner`; existing ones are left as
    /// they are. Returns whether the last component was created.
    fn make_dir(&self, base: &Path, rel: &Path, owner: Owner) -> Result<bool, OsError>;
    /// Create the file `base/rel` with `contents` unless it exists; returns whether it did.
    fn make_file(
        &self,
        base: &Path,
        rel: &Path,
        contents: &[u8],
        owner: Owner,
    ) -> Result<bool, OsError>;
    /// `base/rel` → `target`, owned by `owner` (parents must exist).
    fn symlink(&self, base: &Path, rel: &Path, target: &Path, owner: Owner) -> Result<(), OsError>;
    /// Set the owner and mode of `base/rel` (which must not be a symlink).
    fn set_owner(&self, base: &Path, rel: &Path, owner: Owner) -> Result<(), OsError>;
    /// Read a file root owns (a secret's source).
    fn read(&self, path: &Path) -> Result<Vec<u8>, OsError>;
    /// Move each `base/rel` (never followed) into one new directory `base/<into>` owned by
    /// `owner` (a suffix is added when a resident took that name first); returns where each went.
    fn move_aside(
        &self,
        base: &Path,
        rels: &[PathBuf],
        into: &str,
        owner: Owner,
    ) -> Result<Vec<PathBuf>, OsError>;
}

/// `a/b/c` → `a_b_c`: one entry name for a quarantined path.
pub fn flat_name(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("_")
}

/// The real filesystem.
#[derive(Debug, Default)]
pub struct HostFiles;

fn names(rel: &Path) -> Result<Vec<&std::ffi::OsStr>, String> {
    rel.components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(format!("{} is not a plain relative path", rel.display())),
        })
        .collect()
}

const DIR_FLAGS: OFlag = OFlag::O_DIRECTORY
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

fn open_base(base: &Path) -> Result<OwnedFd, String> {
    // The base (a home's parent, /persist/NAME) is trusted: only root can change it.
    nix::fcntl::open(base, OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| format!("opening {}: {e}", base.display()))
}

/// Open (creating when missing) each directory along `names`, never following a symlink.
fn walk(
    base: &Path,
    names: &[&std::ffi::OsStr],
    owner: Option<Owner>,
) -> Result<(OwnedFd, bool), String> {
    let mut fd = open_base(base)?;
    let mut created = false;
    let mut here = base.to_path_buf();
    for name in names {
        here.push(name);
        let refuse = |e: Errno| match e {
            Errno::ELOOP | Errno::ENOTDIR => format!(
                "refusing {}: it is a symlink or not a directory",
                here.display()
            ),
            e => format!("opening {}: {e}", here.display()),
        };
        created = false;
        let next = match openat(&fd, *name, DIR_FLAGS, Mode::empty()) {
            Err(Errno::ENOENT) if owner.is_some() => {
                let o = owner.expect("checked");
                mkdirat(&fd, *name, Mode::from_bits_truncate(o.mode)).map_err(refuse)?;
                let new = openat(&fd, *name, DIR_FLAGS, Mode::empty()).map_err(refuse)?;
                fchown(&new, Some(Uid::from_raw(o.uid)), Some(Gid::from_raw(o.gid)))
                    .map_err(refuse)?;
                fchmod(&new, Mode::from_bits_truncate(o.mode)).map_err(refuse)?;
                created = true;
                new
            }
            r => r.map_err(refuse)?,
        };
        fd = next;
    }
    Ok((fd, created))
}

fn split(rel: &Path) -> Result<(Vec<&std::ffi::OsStr>, &std::ffi::OsStr), String> {
    let mut n = names(rel)?;
    let last = n.pop().ok_or_else(|| "empty path".to_string())?;
    Ok((n, last))
}

fn dangling_target(path: &Path) -> PathBuf {
    let Ok(target) = std::fs::read_link(path) else {
        return path.to_owned();
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    let parent = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_owned());
    parent.join(target)
}

impl Files for HostFiles {
    fn inspect(&self, path: &Path) -> Result<Option<Node>, OsError> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(OsError::new(format!("inspecting {}", path.display()), e)),
        };
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        // A dangling symlink still says where it leads: resolve its parent and the link.
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| dangling_target(path));
        let uid = meta.uid();
        let target = std::fs::metadata(path).unwrap_or(meta);
        Ok(Some(Node {
            kind,
            canonical,
            dev: target.dev(),
            ino: target.ino(),
            uid,
        }))
    }

    fn make_dir(&self, base: &Path, rel: &Path, owner: Owner) -> Result<bool, OsError> {
        let what = || format!("creating {}", base.join(rel).display());
        let n = names(rel).os(what)?;
        walk(base, &n, Some(owner))
            .map(|(_, created)| created)
            .os(what)
    }

    fn make_file(
        &self,
        base: &Path,
        rel: &Path,
        contents: &[u8],
        owner: Owner,
    ) -> Result<bool, OsError> {
        let what = || format!("creating {}", base.join(rel).display());
        let (parents, last) = split(rel).os(what)?;
        let (dir, _) = walk(base, &parents, None).os(what)?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = match openat(&dir, last, flags, Mode::from_bits_truncate(owner.mode)) {
            Err(Errno::EEXIST) => return Ok(false),
            r => r.os(what)?,
        };
        fchown(
            &fd,
            Some(Uid::from_raw(owner.uid)),
            Some(Gid::from_raw(owner.gid)),
        )
        .os(what)?;
        fchmod(&fd, Mode::from_bits_truncate(owner.mode)).os(what)?;
        std::fs::File::from(fd).write_all(contents).os(what)?;
        Ok(true)
    }

    fn symlink(&self, base: &Path, rel: &Path, target: &Path, owner: Owner) -> Result<(), OsError> {
        let what = || {
            format!(
                "linking {} to {}",
                base.join(rel).display(),
                target.display()
            )
        };
        let (parents, last) = split(rel).os(what)?;
        let (dir, _) = walk(base, &parents, None).os(what)?;
        symlinkat(target, &dir, last).os(what)?;
        let (uid, gid) = (
            Some(Uid::from_raw(owner.uid)),
            Some(Gid::from_raw(owner.gid)),
        );
        fchownat(&dir, last, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW).os(what)
    }

    fn set_owner(&self, base: &Path, rel: &Path, owner: Owner) -> Result<(), OsError> {
        let what = || format!("setting the owner of {}", base.join(rel).display());
        let n = names(rel).os(what)?;
        let (fd, _) = walk(base, &n, None).os(what)?;
        fchown(
            fd.as_fd(),
            Some(Uid::from_raw(owner.uid)),
            Some(Gid::from_raw(owner.gid)),
        )
        .os(what)?;
        fchmod(fd.as_fd(), Mode::from_bits_truncate(owner.mode)).os(what)
    }

    fn read(&self, path: &Path) -> Result<Vec<u8>, OsError> {
        let mut buf = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut buf))
            .os(|| format!("reading {}", path.display()))?;
        Ok(buf)
    }

    fn move_aside(
        &self,
        base: &Path,
        rels: &[PathBuf],
        into: &str,
        owner: Owner,
    ) -> Result<Vec<PathBuf>, OsError> {
        let what = || format!("moving entries of {} aside into {into}", base.display());
        let top = open_base(base).os(what)?;
        let mut name = into.to_string();
        for n in 1.. {
            match mkdirat(&top, name.as_str(), Mode::from_bits_truncate(0o700)) {
                Ok(()) => break,
                Err(Errno::EEXIST) if n < 100 => name = format!("{into}.{n}"),
                Err(e) => return Err(e).os(what),
            }
        }
        let dir = openat(&top, name.as_str(), DIR_FLAGS, Mode::empty()).os(what)?;
        let mut moved = Vec::new();
        for rel in rels {
            let what = || format!("moving {} aside", base.join(rel).display());
            let (parents, last) = split(rel).os(what)?;
            let (from, _) = walk(base, &parents, None).os(what)?;
            let flat = flat_name(rel);
            nix::fcntl::renameat(&from, last, &dir, flat.as_str()).os(what)?;
            moved.push(base.join(&name).join(flat));
        }
        fchown(
            &dir,
            Some(Uid::from_raw(owner.uid)),
            Some(Gid::from_raw(owner.gid)),
        )
        .os(what)?;
        fchmod(&dir, Mode::from_bits_truncate(owner.mode)).os(what)?;
        Ok(moved)
    }
}

#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::FakeFiles;
