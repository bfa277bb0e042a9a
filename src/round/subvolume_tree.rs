//! Deleting a tree of subvolumes by id, through descriptors. A retired round was the
//! residents' own (nested subvolumes, directories deeper than any path may be long,
//! symlinks), so nothing here resolves a path inside it. The subvolumes below the top are
//! found by id in the filesystem's root tree (`BTRFS_IOC_TREE_SEARCH`: no path, no length
//! limit); each one's directory is reached from the top one component at a time with
//! `openat(O_NOFOLLOW)`, every step checked against the inode and subvolume the tree
//! names. A step that does not match is refused, so no rename or symlink can point root at
//! a subvolume outside the tree, and one subvolume that cannot be deleted never stops the
//! others.

use std::collections::VecDeque;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, fstat};

/// `struct btrfs_ioctl_search_key`.
#[repr(C)]
#[derive(Default)]
struct SearchKey {
    tree_id: u64,
    min_objectid: u64,
    max_objectid: u64,
    min_offset: u64,
    max_offset: u64,
    min_transid: u64,
    max_transid: u64,
    min_type: u32,
    max_type: u32,
    nr_items: u32,
    unused: u32,
    unused1: u64,
    unused2: u64,
    unused3: u64,
    unused4: u64,
}

const SEARCH_BUF: usize = 4096 - std::mem::size_of::<SearchKey>();

/// `struct btrfs_ioctl_search_args`.
#[repr(C)]
struct SearchArgs {
    key: SearchKey,
    buf: [u8; SEARCH_BUF],
}

/// `struct btrfs_ioctl_ino_lookup_args`.
#[repr(C)]
struct InoLookupArgs {
    treeid: u64,
    objectid: u64,
    name: [u8; 4080],
}

nix::ioctl_readwrite!(tree_search, 0x94, 17, SearchArgs);
nix::ioctl_readwrite!(ino_lookup, 0x94, 18, InoLookupArgs);
nix::ioctl_read!(subvol_getflags, 0x94, 25, u64);
nix::ioctl_write_ptr!(subvol_setflags, 0x94, 26, u64);

const ROOT_TREE: u64 = 1;
const INODE_REF_KEY: u32 = 12;
const ROOT_BACKREF_KEY: u32 = 144;
const ROOT_REF_KEY: u32 = 156;
/// The inode number of every subvolume's top directory.
const TOP_INO: u64 = 256;
const SUBVOL_RDONLY: u64 = 1 << 1;
const DIR: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

fn zeroed<T>() -> Box<T> {
    // SAFETY: only used for the plain-old-data ioctl structs above, for which all-zero is valid.
    unsafe { Box::new(std::mem::zeroed()) }
}

/// One item of a tree: its key's offset and its data.
struct Item {
    offset: u64,
    data: Vec<u8>,
}

/// Every item of `tree` keyed (`objectid`, `kind`, any offset), in key order.
fn items(fd: &OwnedFd, tree: u64, objectid: u64, kind: u32) -> Result<Vec<Item>, Errno> {
    let mut out = Vec::new();
    let mut min_offset = 0;
    loop {
        let mut args = zeroed::<SearchArgs>();
        args.key = SearchKey {
            tree_id: tree,
            min_objectid: objectid,
            max_objectid: objectid,
            min_offset,
            max_offset: u64::MAX,
            max_transid: u64::MAX,
            min_type: kind,
            max_type: kind,
            nr_items: 4096,
            ..SearchKey::default()
        };
        // SAFETY: the fd is open and args is a properly sized, exclusively borrowed struct.
        unsafe { tree_search(fd.as_raw_fd(), &mut *args) }?;
        let found = args.key.nr_items as usize;
        if found == 0 {
            return Ok(out);
        }
        let mut at = 0;
        let mut last = None;
        for _ in 0..found {
            // struct btrfs_ioctl_search_header: transid, objectid, offset (u64), type, len (u32)
            let header = args.buf.get(at..at + 32).ok_or(Errno::EOVERFLOW)?;
            let word = |i: usize| u64::from_ne_bytes(header[i..i + 8].try_into().expect("8 bytes"));
            let (item_objectid, offset) = (word(8), word(16));
            let item_kind = u32::from_ne_bytes(header[24..28].try_into().expect("4 bytes"));
            let len = u32::from_ne_bytes(header[28..32].try_into().expect("4 bytes")) as usize;
            let data = args
                .buf
                .get(at + 32..at + 32 + len)
                .ok_or(Errno::EOVERFLOW)?;
            if item_objectid == objectid && item_kind == kind {
                out.push(Item {
                    offset,
                    data: data.to_vec(),
                });
            }
            last = Some(offset);
            at += 32 + len;
        }
        match last.and_then(|o| o.checked_add(1)) {
            Some(next) => min_offset = next,
            None => return Ok(out),
        }
    }
}

/// A name stored after a fixed part of `head` bytes, its length a little-endian u16 at `len_at`.
fn name_in(data: &[u8], len_at: usize, head: usize) -> Option<CString> {
    let len = u16::from_le_bytes(data.get(len_at..len_at + 2)?.try_into().ok()?) as usize;
    CString::new(data.get(head..head + len)?).ok()
}

fn le64(data: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(data.get(..8)?.try_into().ok()?))
}

/// A subvolume directly inside another: its id, the directory (inode) it sits in, its name.
struct Child {
    id: u64,
    dir: u64,
    name: CString,
}

/// `struct btrfs_root_ref`: dirid, sequence (u64), name_len (u16), then the name.
fn root_ref(id: u64, data: &[u8]) -> Result<Child, Errno> {
    let dir = le64(data).ok_or(Errno::EUCLEAN)?;
    let name = name_in(data, 16, 18).ok_or(Errno::EUCLEAN)?;
    Ok(Child { id, dir, name })
}

/// The subvolumes directly inside subvolume `parent`.
fn children(fd: &OwnedFd, parent: u64) -> Result<Vec<Child>, Errno> {
    items(fd, ROOT_TREE, parent, ROOT_REF_KEY)?
        .into_iter()
        .map(|i| root_ref(i.offset, &i.data))
        .collect()
}

/// Where subvolume `id` sits: its parent subvolume, the directory there, its name.
fn parent_of(fd: &OwnedFd, id: u64) -> Result<(u64, Child), Errno> {
    let item = items(fd, ROOT_TREE, id, ROOT_BACKREF_KEY)?
        .into_iter()
        .next()
        .ok_or(Errno::ENOENT)?;
    Ok((item.offset, root_ref(id, &item.data)?))
}

/// The directory holding inode `ino` of subvolume `tree`, and its name there
/// (`struct btrfs_inode_ref`: index (u64), name_len (u16), then the name).
fn inode_parent(fd: &OwnedFd, tree: u64, ino: u64) -> Result<(u64, CString), Errno> {
    let item = items(fd, tree, ino, INODE_REF_KEY)?
        .into_iter()
        .next()
        .ok_or(Errno::ENOENT)?;
    Ok((
        item.offset,
        name_in(&item.data, 8, 10).ok_or(Errno::EUCLEAN)?,
    ))
}

/// The id of the subvolume `fd` is in.
pub(super) fn subvolume_id(fd: &OwnedFd) -> Result<u64, Errno> {
    let mut args = zeroed::<InoLookupArgs>();
    args.objectid = TOP_INO;
    // SAFETY: as above; with treeid 0 the kernel fills in the fd's own subvolume.
    unsafe { ino_lookup(fd.as_raw_fd(), &mut *args) }?;
    Ok(args.treeid)
}

/// Open `name` in `dir` as a directory, never following a symlink, and check it is inode
/// `ino` of subvolume `tree`.
fn step(dir: &OwnedFd, name: &CStr, ino: u64, tree: u64) -> Result<OwnedFd, Errno> {
    let fd = openat(dir, name, DIR, Mode::empty())?;
    if fstat(&fd)?.st_ino != ino || subvolume_id(&fd)? != tree {
        return Err(Errno::ESTALE);
    }
    Ok(fd)
}

/// Directory `ino` of subvolume `tree`, reached from `top` (the top of subvolume
/// `top_id`) by the names the trees give, each step checked.
fn open_dir(top: &OwnedFd, top_id: u64, tree: u64, ino: u64) -> Result<OwnedFd, Errno> {
    // (name, inode, subvolume) from the wanted directory up to just below the top.
    let mut path = Vec::new();
    let (mut t, mut i) = (tree, ino);
    loop {
        while i != TOP_INO {
            let (up, name) = inode_parent(top, t, i)?;
            path.push((name, i, t));
            i = up;
        }
        if t == top_id {
            break;
        }
        let (up, me) = parent_of(top, t)?;
        path.push((me.name, TOP_INO, t));
        (t, i) = (up, me.dir);
    }
    let mut fd = top.try_clone().map_err(|_| Errno::EMFILE)?;
    for (name, i, t) in path.iter().rev() {
        fd = step(&fd, name, *i, *t)?;
    }
    Ok(fd)
}

/// A subvolume that is read-only keeps its children: their entries cannot be removed.
pub(super) fn make_writable(fd: &OwnedFd) -> Result<(), Errno> {
    let mut flags = 0u64;
    // SAFETY: fd open, flags a valid u64 to write to and read from.
    unsafe { subvol_getflags(fd.as_raw_fd(), &mut flags) }?;
    if flags & SUBVOL_RDONLY != 0 {
        let cleared = flags & !SUBVOL_RDONLY;
        // SAFETY: as above.
        unsafe { subvol_setflags(fd.as_raw_fd(), &cleared) }?;
    }
    Ok(())
}

/// Delete subvolume `id`, named `name` in the already checked directory `dir`.
fn destroy(dir: &OwnedFd, name: &CStr, id: u64) -> Result<(), Errno> {
    step(dir, name, TOP_INO, id)?;
    let mut args = zeroed::<super::subvolume::VolArgsV2>();
    args.set_name(name.to_bytes())
        .map_err(|_| Errno::ENAMETOOLONG)?;
    // SAFETY: fd open, args valid for the duration of the call.
    unsafe { super::subvolume::snap_destroy_v2(dir.as_raw_fd(), &*args) }?;
    Ok(())
}

/// Delete subvolume `id` by its id alone: no name is resolved, so nothing can be swapped
/// in under one. The kernel still builds its path, and refuses one longer than PATH_MAX
/// (ENAMETOOLONG); a kernel before 5.7 knows no ids here (EINVAL).
fn destroy_by_id(any: &OwnedFd, id: u64) -> Result<(), Errno> {
    let args = super::subvolume::VolArgsV2::by_id(id);
    // SAFETY: fd open, args valid for the duration of the call.
    unsafe { super::subvolume::snap_destroy_v2(any.as_raw_fd(), &*args) }?;
    Ok(())
}

/// Delete nested subvolume `c` of subvolume `parent`: by id, or where the kernel cannot, by
/// its name in its directory reached from `top` step by checked step; its parent made
/// writable first if it is read-only.
fn destroy_nested(top: &OwnedFd, top_id: u64, parent: u64, c: &Child) -> Result<(), Errno> {
    let by_name = || destroy(&open_dir(top, top_id, parent, c.dir)?, &c.name, c.id);
    let attempt = || match destroy_by_id(top, c.id) {
        Err(Errno::ENAMETOOLONG | Errno::EINVAL | Errno::EOPNOTSUPP) => by_name(),
        r => r,
    };
    match attempt() {
        Err(Errno::EROFS | Errno::EPERM) => {
            make_writable(&open_dir(top, top_id, parent, TOP_INO)?)?;
            attempt()
        }
        r => r,
    }
}

/// Why a subvolume tree was not deleted, or not all of it.
#[derive(Debug, thiserror::Error)]
pub(super) enum TreeError {
    /// A step on the tree failed: what it was doing, and the kernel's answer.
    #[error("{doing}: {errno}")]
    Step { doing: String, errno: Errno },
    #[error("not a subvolume")]
    NotASubvolume,
    /// Nested subvolumes that could not be deleted, each by id, name and why.
    #[error("{} nested subvolume(s) left: {}", .0.len(), .0.join("; "))]
    Left(Vec<String>),
}

/// A failed step's error, saying what it was doing.
fn doing(what: impl Into<String>) -> impl FnOnce(Errno) -> TreeError {
    let doing = what.into();
    move |errno| TreeError::Step { doing, errno }
}

/// Delete the subvolume `name` in `parent` and every subvolume nested in it, deepest
/// first; how many went. Errors name each subvolume left, by id.
pub(super) fn delete_tree(parent: &OwnedFd, name: &CStr) -> Result<usize, TreeError> {
    let top = match openat(parent, name, DIR, Mode::empty()) {
        Err(Errno::ENOENT) => return Ok(0),
        r => r.map_err(doing("opening it"))?,
    };
    if fstat(&top).map_err(doing("reading it"))?.st_ino != TOP_INO {
        return Err(TreeError::NotASubvolume);
    }
    // Sealed again, whoever retired it (an older townhall did not): root's alone from here.
    nix::unistd::fchown(
        &top,
        Some(nix::unistd::Uid::from_raw(0)),
        Some(nix::unistd::Gid::from_raw(0)),
    )
    .map_err(doing("sealing it"))?;
    nix::sys::stat::fchmod(&top, Mode::from_bits_truncate(0o700)).map_err(doing("sealing it"))?;
    let top_id = subvolume_id(&top).map_err(doing("reading its id"))?;
    // Breadth first from the top: reversed, every subvolume comes before its parent.
    let mut found: Vec<(u64, Child)> = Vec::new();
    let mut queue = VecDeque::from([top_id]);
    while let Some(p) = queue.pop_front() {
        let kids =
            children(&top, p).map_err(doing(format!("listing the subvolumes in subvolume {p}")))?;
        queue.extend(kids.iter().map(|c| c.id));
        found.extend(kids.into_iter().map(|c| (p, c)));
    }
    let mut left = Vec::new();
    let mut gone = 0;
    for (p, c) in found.iter().rev() {
        match destroy_nested(&top, top_id, *p, c) {
            Ok(()) => gone += 1,
            // Gone already (another deleter, or with a parent that went first).
            Err(Errno::ENOENT) => {}
            Err(e) => left.push(format!("subvolume {} ({:?}): {e}", c.id, c.name)),
        }
    }
    if !left.is_empty() {
        return Err(TreeError::Left(left));
    }
    drop(top);
    destroy(parent, name, top_id).map_err(doing("deleting it"))?;
    Ok(gone + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_structs_match_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<SearchKey>(), 104);
        assert_eq!(std::mem::size_of::<SearchArgs>(), 4096);
        assert_eq!(std::mem::size_of::<InoLookupArgs>(), 4096);
    }

    #[test]
    fn refs_parse_with_their_names() {
        let mut root = 300u64.to_le_bytes().to_vec();
        root.extend(7u64.to_le_bytes());
        root.extend(3u16.to_le_bytes());
        root.extend(b"abc");
        let c = root_ref(42, &root).unwrap();
        assert_eq!((c.id, c.dir, c.name.to_bytes()), (42, 300, &b"abc"[..]));
        assert!(
            root_ref(42, &root[..19]).is_err(),
            "a name running past the item"
        );
        let mut inode = 9u64.to_le_bytes().to_vec();
        inode.extend(2u16.to_le_bytes());
        inode.extend(b"xy");
        assert_eq!(name_in(&inode, 8, 10).unwrap().to_bytes(), b"xy");
    }
}
