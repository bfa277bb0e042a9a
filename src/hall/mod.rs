//! The hall on the root daemon's side. The protocol itself is townhall-wire's (re-exported
//! here, so root names it `crate::hall`); root adds what only it may do with it: validate
//! each request against the town (validate.rs) and turn its own types into the hall's
//! (convert.rs).

mod convert;
mod validate;

pub use convert::{all, refused};
pub use townhall_wire::hall::*;
pub use validate::{Checked, MAX_PROMPT, Refusal, validate};
