//! What every bot of the chat process shares: the length of each room's chain of residents
//! answering residents (the chain passes from one resident's bot to the other's), and the
//! reset offers waiting for a mayor's `!reset yes`. The process holds it and hands it to
//! each bot; it is never a global, so tests make their own.

use crate::bot::Hops;
use crate::confirm::Offers;

#[derive(Default)]
pub struct Shared {
    pub hops: Hops,
    pub offers: Offers,
}
