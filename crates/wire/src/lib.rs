//! What crosses townhall's sockets, shared by the processes on either side and nothing
//! else: the hall's protocol (`hall`: the chat process and the root daemon) as its own
//! types, the names of the chat's systemd credentials (`credentials`), the line plumbing
//! every socket uses (`lines`, with `admit` capping each peer), untrusted text kept in its
//! markdown block (`markdown`), and the pauses of every retry (`backoff`). It names no
//! root-only code, so the chat crate can link it.

pub mod admit;
pub mod backoff;
pub mod credentials;
pub mod hall;
pub mod ledger;
pub mod lines;
pub mod markdown;
