//! A file an agent picks by path (the `send_file` tool), copied for the chat to upload
//! now. As with the outbox, root never opens the path: a child running as the resident
//! resolves it, checks it is a regular file inside its home, and writes it to root's
//! already open copy. A link to a file outside the home (or its persisted paths, which are
//! links into /persist/NAME) is refused; one swapped in after the check still reaches only
//! what the resident itself could read.

use std::path::Path;

use super::{Outgoing, Resident, copy_from, mimetype, safe_name, sh};
use crate::os::OsError;

/// Copy `path` (absolute, or relative to the workspace) into `dir`, readable by
/// `reader_gid`: at most `max` bytes, else refused and nothing kept.
pub fn copy(
    r: &Resident,
    path: &str,
    max: u64,
    dir: &Path,
    reader_gid: u32,
) -> Result<Outgoing, OsError> {
    let name = safe_name(path);
    let copy = dir.join(&name);
    let script = r#"set -eu; cd -- "$1"; h=$(readlink -f -- "$3"); p=$(readlink -f -- "$4")
f=$(readlink -f -- "$2") || { echo "$2 does not lead to a file you can reach" >&2; exit 3; }
case "$f" in "$h"/*|"$p"/*) ;; *) echo "$2 is not inside your home $3" >&2; exit 3;; esac
[ -f "$f" ] || { echo "$2 is not a regular file" >&2; exit 3; }
head -c "$5" -- "$f""#;
    let ws = r.workspace.display().to_string();
    let (home, persist) = (
        r.home.display().to_string(),
        r.persist.display().to_string(),
    );
    let cap = (max + 1).to_string();
    let c = sh(r, script, &[&ws, path, &home, &persist, &cap]);
    let over = format!("it is over the {} a file may be", crate::os::size(max));
    let bytes = copy_from(c, &copy, reader_gid, max, &format!("sending {path}"), &over)?;
    Ok(Outgoing {
        mimetype: mimetype(&name),
        name,
        bytes,
        path: copy,
    })
}
