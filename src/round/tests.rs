//! The reset's decisions against recording fakes: the prepared host they act on, and the
//! reset refusing before it acts (refusals.rs), acting in order (apply.rs), and recovery
//! and init putting a host right (recovery.rs).

mod alone;
mod apply;
mod recovery;
mod refusals;

use std::path::{Path, PathBuf};

use super::*;
use crate::testing::demo_town;

/// A prepared host: both subvolumes, /agents → live, secrets deployed, accounts present.
type World = crate::testing::FakeMachine;

fn world() -> World {
    crate::testing::prepared_machine()
}

fn plan(w: &World) -> Result<ResetPlan, Vec<Refusal>> {
    plan_reset(&demo_town(), &w.subvolumes, &w.files, &w.accounts)
}

fn nothing_done(w: &World) {
    assert!(
        w.subvolumes.calls.calls().is_empty(),
        "{:?}",
        w.subvolumes.calls.calls()
    );
    assert!(
        w.files.calls.calls().is_empty(),
        "{:?}",
        w.files.calls.calls()
    );
    assert!(w.accounts.calls.calls().is_empty());
}

fn seams(w: &World) -> crate::machine::RoundSeams<'_, World> {
    crate::machine::Machine::round(w)
}
