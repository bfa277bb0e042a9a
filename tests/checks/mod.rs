//! What the town tests check, one module per issue's concern.

pub mod allowed;
pub mod answers;
pub mod approvals;
pub mod chat;
pub mod clis;
pub mod commands;
pub mod costs;
pub mod crowd;
pub mod devices;
pub mod files;
pub mod foundation;
pub mod gathering;
pub mod grants;
pub mod handoff;
pub mod hardening;
pub mod hoarding;
pub mod levelling;
pub mod notices;
pub mod remote;
pub mod retired;
pub mod rounds;
pub mod signing;
pub mod split;
pub mod turns;
