//! Files between the rooms and a resident's workspace: what a mayor sends lands in
//! `inbox/`, what a turn leaves in `outbox/` goes to the room (and then to `outbox/sent/`).
//!
//! Root never opens a path inside a resident's tree: a child running as the resident does
//! (`sh`, `cat`, `find`, `mv`), with root handing it an already open file. A symlink or a
//! fifo planted there reaches only what the resident could read or write itself.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::os::{OsContext, OsError};

pub const INBOX: &str = "inbox";
pub const OUTBOX: &str = "outbox";
/// At most this many outbox files go with one answer; the rest wait for the next.
pub const PER_TURN: usize = 10;

/// The resident a file goes to or comes from.
#[derive(Debug, Clone)]
pub struct Resident {
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub workspace: PathBuf,
    /// `/persist/NAME`: its persisted paths are links from the home into it.
    pub persist: PathBuf,
}

/// A file a turn left in the outbox, copied where the chat can read it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outgoing {
    pub name: String,
    pub mimetype: String,
    pub bytes: u64,
    /// Root's copy, for the chat to upload.
    pub path: PathBuf,
}

/// A name that is one plain path component: letters, digits, `.`, `_`, `-` (others
/// become `_`), not hidden, at most 100 bytes.
pub fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut s: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    while s.starts_with('.') {
        s.remove(0);
    }
    s.truncate(100);
    if s.trim_matches(['.', '_']).is_empty() {
        "file".into()
    } else {
        s
    }
}

pub fn mimetype(name: &str) -> String {
    mime_guess::from_path(name)
        .first_or_octet_stream()
        .essence_str()
        .to_string()
}

/// How long a hand-over as the resident may take.
const WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

/// `sh -c script` as the resident (its uid and gid, no supplementary groups, a clean
/// environment, a private umask), in a unit of its own in its slice (units::helper).
fn sh(r: &Resident, script: &str, args: &[&str]) -> Command {
    let mut c =
        crate::units::helper::as_resident(r.uid, r.gid, &r.home, &[], 0o077, WITHIN, "/bin/sh");
    c.arg("-c").arg(script).arg("sh").args(args);
    c
}

fn run(mut c: Command, what: &str) -> Result<String, OsError> {
    let out = c.stderr(Stdio::piped()).output().os(|| what.to_string())?;
    if !out.status.success() {
        return Err(OsError::new(
            what.to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Put what `from` holds into the resident's inbox as `name` (or `1-name`, `2-name`… when
/// taken), written by the resident; the path it got.
pub fn deliver(r: &Resident, name: &str, from: std::fs::File) -> Result<PathBuf, OsError> {
    let name = safe_name(name);
    let script = r#"set -eu; d="$1/inbox"; mkdir -p -- "$d"; n="$2"; i=1
while [ -e "$d/$n" ] || [ -L "$d/$n" ]; do n="$i-$2"; i=$((i+1)); done
set -C; cat > "$d/$n"; printf %s "$n""#;
    let ws = r.workspace.display().to_string();
    let mut c = sh(r, script, &[&ws, &name]);
    c.stdin(Stdio::from(from)).stdout(Stdio::piped());
    let got = run(
        c,
        &format!("saving {name} in {}", r.workspace.join(INBOX).display()),
    )?;
    Ok(r.workspace.join(INBOX).join(got.trim()))
}

/// Copy each regular file in the outbox (not following symlinks) into `dir`, readable by
/// `reader_gid`, and move it to `outbox/sent/`; what was taken, and a line for each file
/// left behind (over `max` bytes, or past PER_TURN).
/// `dir` is made only when there is something to copy.
pub fn take(
    r: &Resident,
    max: u64,
    dir: impl FnOnce() -> Result<PathBuf, OsError>,
    reader_gid: u32,
) -> (Vec<Outgoing>, Vec<String>) {
    let ws = r.workspace.display().to_string();
    let mut list = sh(
        r,
        r#"[ -d "$1/outbox" ] || exit 0; find "$1/outbox" -mindepth 1 -maxdepth 1 -type f -printf '%s %f\0'"#,
        &[&ws],
    );
    list.stdout(Stdio::piped());
    let listed = match run(list, "listing the outbox") {
        Ok(l) => l,
        Err(e) => return (vec![], vec![e.to_string()]),
    };
    let (mut taken, mut notes) = (Vec::new(), Vec::new());
    let entries: Vec<(u64, String)> = listed
        .split('\0')
        .filter_map(|e| e.split_once(' '))
        .filter_map(|(n, name)| Some((n.parse::<u64>().ok()?, name.to_string())))
        .collect();
    let dir = match entries
        .iter()
        .any(|(size, _)| *size <= max)
        .then(dir)
        .transpose()
    {
        Ok(d) => d.unwrap_or_default(),
        Err(e) => return (vec![], vec![format!("the outbox was not sent: {e}")]),
    };
    for (i, (size, name)) in entries.into_iter().enumerate() {
        if i >= PER_TURN {
            notes.push(format!(
                "outbox/{name} waits for the next answer (at most {PER_TURN} files go with one)"
            ));
            continue;
        }
        if size > max {
            notes.push(format!(
                "outbox/{name} is {}, over the {} a file may be: not sent, still in the outbox",
                crate::os::size(size),
                crate::os::size(max)
            ));
            continue;
        }
        match copy_out(r, &name, max, &dir, i, reader_gid) {
            Ok(o) => taken.push(o),
            Err(e) => notes.push(format!("outbox/{name} was not sent: {e}")),
        }
    }
    (taken, notes)
}

fn copy_out(
    r: &Resident,
    name: &str,
    max: u64,
    dir: &Path,
    i: usize,
    reader_gid: u32,
) -> Result<Outgoing, OsError> {
    let path = dir.join(format!("{i}-{}", safe_name(name)));
    let what = format!("copying outbox/{name} to {}", path.display());
    let ws = r.workspace.display().to_string();
    let script = r#"set -eu; f="$1/outbox/$2"; if [ ! -f "$f" ] || [ -L "$f" ]; then echo "not a plain file" >&2; exit 3; fi; head -c "$3" -- "$f"; mkdir -p -- "$1/outbox/sent"; mv -f -- "$f" "$1/outbox/sent/""#;
    let c = sh(r, script, &[&ws, name, &(max + 1).to_string()]);
    let over = "it grew past the limit while copied";
    let bytes = copy_from(c, &path, reader_gid, max, &what, over)?;
    Ok(Outgoing {
        name: safe_name(name),
        mimetype: mimetype(name),
        bytes,
        path,
    })
}

/// A new file of root's at `copy`, readable by `reader_gid`, holding what `c` (a child as
/// the resident, told to write at most `max` + 1 bytes: `head` bounds what a file growing
/// under it can make root store) writes to its stdout; its size. Over `max` (`over` says
/// why) or failed, nothing is kept.
fn copy_from(
    mut c: Command,
    copy: &Path,
    reader_gid: u32,
    max: u64,
    what: &str,
    over: &str,
) -> Result<u64, OsError> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(copy)
        .os(|| what.to_string())?;
    file.set_permissions(std::fs::Permissions::from_mode(0o640))
        .os(|| what.to_string())?;
    nix::unistd::fchown(&file, None, Some(nix::unistd::Gid::from_raw(reader_gid)))
        .os(|| what.to_string())?;
    c.stdout(Stdio::from(file));
    let done = run(c, what);
    let bytes = std::fs::metadata(copy).map(|m| m.size()).unwrap_or(0);
    let checked = done.and_then(|_| match bytes > max {
        true => Err(OsError::new(what.to_string(), over.to_string())),
        false => Ok(()),
    });
    if let Err(e) = checked {
        let _ = std::fs::remove_file(copy);
        return Err(e);
    }
    Ok(bytes)
}

/// Why a file the chat process says it spooled is not taken.
#[derive(Debug, thiserror::Error)]
pub enum Unspooled {
    #[error("{} is not in the chat's spool {}", .path.display(), .spool.display())]
    Elsewhere { path: PathBuf, spool: PathBuf },
    #[error("{} is not a plain file of the chat's own", .0.display())]
    NotItsOwn(PathBuf),
    #[error("the file is {}, over the {} allowed", crate::os::size(*.size), crate::os::size(*.max))]
    TooBig { size: u64, max: u64 },
    #[error(
        "there is no `{}` user to own a spool: install the chat process as the README says",
        crate::hall::CHAT_USER
    )]
    NoChatUser,
    #[error(transparent)]
    Os(#[from] OsError),
}

/// Open a file the chat process left in its spool: a regular file directly in `spool`,
/// not a symlink, owned by `owner` (so a planted link or hard link to root's files is not
/// taken), at most `max` bytes.
pub fn open_spooled(
    path: &Path,
    spool: &Path,
    owner: u32,
    max: u64,
) -> Result<std::fs::File, Unspooled> {
    if path.parent() != Some(spool) {
        return Err(Unspooled::Elsewhere {
            path: path.into(),
            spool: spool.into(),
        });
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .os(|| format!("opening {}", path.display()))?;
    let m = f
        .metadata()
        .os(|| format!("reading {}'s metadata", path.display()))?;
    if !m.is_file() || m.uid() != owner || m.nlink() != 1 {
        return Err(Unspooled::NotItsOwn(path.into()));
    }
    if m.len() > max {
        return Err(Unspooled::TooBig { size: m.len(), max });
    }
    Ok(f)
}

#[cfg(test)]
mod fake;
mod picked;
mod post;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub use fake::FakePost;
pub use post::{HANDOVER, HostPost, Post};
