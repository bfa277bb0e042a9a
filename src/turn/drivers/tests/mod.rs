//! The drivers' tests, and the one way they read a CLI's output as a whole turn: the
//! documented formats, the real recorded lines (recorded/) and the invocations get a file
//! each.

use super::*;
use crate::config::{Agent, AgentKind};
use TurnEvent::*;

mod documented;
mod invocation;
mod recorded;

fn events(kind: AgentKind, out: &str) -> Vec<TurnEvent> {
    let mut r = Reader::new(kind);
    let mut e: Vec<TurnEvent> = out.lines().flat_map(|l| r.line(l)).collect();
    e.extend(r.finish());
    e
}
