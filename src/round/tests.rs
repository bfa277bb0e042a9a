//! The reset's decisions against recording fakes: the prepared host they act on, and the
//! reset refusing before it acts (refusals.rs), acting in order (apply.rs), and recovery
//! and init putting a host right (recovery.rs).

mod apply;
mod recovery;
mod refusals;

use std::path::{Path, PathBuf};

use super::*;
use crate::git::FakeGit;
use crate::resident::{Account, FakeAccounts};
use crate::testing::demo_town;

struct World {
    subvolumes: FakeSubvolumes,
    files: FakeFiles,
    accounts: FakeAccounts,
    git: FakeGit,
    presence: crate::level::FakePresence,
}

fn acct(name: &str, uid: u32) -> Account {
    Account {
        name: name.into(),
        uid,
        gid: uid,
        home: format!("/agents/{name}").into(),
        shell: "/bin/bash".into(),
    }
}

/// A prepared host: both subvolumes, /agents → live, secrets deployed, accounts present.
fn world() -> World {
    let w = World {
        subvolumes: FakeSubvolumes::default(),
        files: FakeFiles::default(),
        accounts: FakeAccounts::with(vec![acct("ada", 1100), acct("vox", 1101)]),
        git: FakeGit::default(),
        presence: Default::default(),
    };
    w.subvolumes.subvolumes.lock().unwrap().extend([
        (PathBuf::from("/town/@agents"), false),
        (PathBuf::from("/town/@agents-blank"), true),
    ]);
    w.files.add("/", Kind::Dir, b"");
    w.files.add("/town/@agents", Kind::Dir, b"");
    w.files.add("/agents", Kind::Symlink, b"/town/@agents");
    w.files.add("/persist", Kind::Dir, b"");
    w.files
        .add("/run/secrets/townhall/ada-ssh-key", Kind::File, b"KEY");
    w
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

fn seams(
    w: &World,
) -> Seams<'_, FakeSubvolumes, FakeFiles, FakeAccounts, FakeGit, crate::level::FakePresence> {
    Seams {
        subvolumes: &w.subvolumes,
        files: &w.files,
        accounts: &w.accounts,
        git: &w.git,
        presence: &w.presence,
    }
}
