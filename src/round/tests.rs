//! The reset's decisions against recording fakes: refuse before acting, act in order.

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
}

fn acct(name: &str, uid: u32) -> Account {
    Account { name: name.into(), uid, gid: uid, home: format!("/agents/{name}").into(), shell: "/bin/bash".into() }
}

/// A prepared host: both subvolumes, /agents → live, secrets deployed, accounts present.
fn world() -> World {
    let w = World {
        subvolumes: FakeSubvolumes::default(),
        files: FakeFiles::default(),
        accounts: FakeAccounts::with(vec![acct("ada", 1100), acct("vox", 1101)]),
        git: FakeGit::default(),
    };
    w.subvolumes.subvolumes.lock().unwrap().extend([
        (PathBuf::from("/town/@agents"), false),
        (PathBuf::from("/town/@agents-blank"), true),
    ]);
    w.files.add("/", Kind::Dir, b"");
    w.files.add("/town/@agents", Kind::Dir, b"");
    w.files.add("/agents", Kind::Symlink, b"/town/@agents");
    w.files.add("/persist", Kind::Dir, b"");
    w.files.add("/run/secrets/townhall/ada-ssh-key", Kind::File, b"KEY");
    w
}

fn plan(w: &World) -> Result<ResetPlan, Vec<Refusal>> {
    plan_reset(&demo_town(), &w.subvolumes, &w.files, &w.accounts)
}

fn nothing_done(w: &World) {
    assert!(w.subvolumes.calls.calls().is_empty(), "{:?}", w.subvolumes.calls.calls());
    assert!(w.files.calls.calls().is_empty(), "{:?}", w.files.calls.calls());
    assert!(w.accounts.calls.calls().is_empty());
}

#[test]
fn refuses_a_live_path_that_is_a_plain_directory() {
    let w = world();
    w.subvolumes.subvolumes.lock().unwrap().retain(|(p, _)| p != Path::new("/town/@agents"));
    let r = plan(&w).unwrap_err();
    assert!(matches!(&r[..], [Refusal::LiveNotSubvolume { .. }]), "{r:?}");
    nothing_done(&w);
}

#[test]
fn refuses_a_live_path_that_leads_to_root() {
    let w = world();
    w.files.add("/town/@agents", Kind::Symlink, b"/");
    let r = plan(&w).unwrap_err();
    assert!(r.iter().any(|r| matches!(r, Refusal::LiveIsRoot { .. })), "{r:?}");
    nothing_done(&w);
}

#[test]
fn refuses_a_missing_or_writable_blank() {
    let w = world();
    w.subvolumes.subvolumes.lock().unwrap().retain(|(p, _)| p != Path::new("/town/@agents-blank"));
    assert!(matches!(&plan(&w).unwrap_err()[..], [Refusal::BlankMissing { .. }]));
    w.subvolumes.subvolumes.lock().unwrap().push(("/town/@agents-blank".into(), false));
    assert!(matches!(&plan(&w).unwrap_err()[..], [Refusal::BlankWritable { .. }]));
    nothing_done(&w);
}

#[test]
fn refuses_persist_that_resolves_inside_the_live_subvolume() {
    let w = world();
    w.files.add("/persist", Kind::Symlink, b"/town/@agents/keep");
    let r = plan(&w).unwrap_err();
    assert!(matches!(&r[..], [Refusal::PersistInsideLive { .. }]), "{r:?}");
}

#[test]
fn refuses_when_a_secret_is_missing_or_a_uid_is_taken() {
    let w = world();
    w.files.nodes.lock().unwrap().remove(Path::new("/run/secrets/townhall/ada-ssh-key"));
    w.accounts.accounts.lock().unwrap()[1].name = "bob".into();
    let r = plan(&w).unwrap_err();
    assert!(r.iter().any(|r| matches!(r, Refusal::SecretMissing { .. })), "{r:?}");
    assert!(r.iter().any(|r| matches!(r, Refusal::Account(_))), "{r:?}");
    nothing_done(&w);
}

#[test]
fn a_reset_levels_then_rebuilds_each_home_and_hands_it_over_last() {
    let w = world();
    let plan = plan(&w).unwrap();
    let seams = Seams { subvolumes: &w.subvolumes, files: &w.files, accounts: &w.accounts, git: &w.git };
    let (survived, _) = apply_reset(&plan, &seams, &mut |_| {}).unwrap();
    assert_eq!(
        w.subvolumes.calls.calls(),
        ["delete /town/@agents", "snapshot /town/@agents-blank /town/@agents ro=false"]
    );
    let calls = w.files.calls.calls();
    let ada: Vec<_> = calls.iter().filter(|c| c.contains("/ada")).map(String::as_str).collect();
    assert_eq!(ada.first(), Some(&"mkdir /town/@agents/ada 0:0 700"), "the home is root's while it is built");
    assert_eq!(ada.last(), Some(&"own /town/@agents/ada 1100:1100 700"), "and hers only at the end");
    for want in [
        "mkdir /persist/ada/work 1100:1100 700",
        "link /town/@agents/ada/work -> /persist/ada/work",
        "file /persist/ada/.bash_history 1100:1100 600",
        "link /town/@agents/ada/.bash_history -> /persist/ada/.bash_history",
        "mkdir /town/@agents/ada/.ssh 1100:1100 700",
        "file /town/@agents/ada/.ssh/id_ed25519 1100:1100 400",
        "file /town/@agents/ada/.gitconfig 1100:1100 644",
    ] {
        assert!(ada.contains(&want), "missing `{want}` in {ada:#?}");
    }
    assert_eq!(survived["ada"], [PathBuf::from("work"), ".claude".into(), ".bash_history".into()]);
    assert_eq!(w.git.calls.calls(), ["identity Ada <ada@town.test>", "identity Vox <vox@town.test>"]);
}

#[test]
fn init_creates_what_is_missing_and_is_idempotent() {
    let w = world();
    w.subvolumes.subvolumes.lock().unwrap().clear();
    w.subvolumes.subvolumes.lock().unwrap().push(("/town".into(), false));
    w.files.nodes.lock().unwrap().retain(|p, _| !p.starts_with("/town/@agents") && p != Path::new("/agents"));
    w.accounts.accounts.lock().unwrap().clear();
    let seams = Seams { subvolumes: &w.subvolumes, files: &w.files, accounts: &w.accounts, git: &w.git };
    let town = demo_town();
    let done = init(&town, &seams).unwrap();
    assert!(done.iter().any(|d| d.contains("blank subvolume")), "{done:?}");
    assert!(done.iter().any(|d| d.contains("created user ada")), "{done:?}");
    assert!(w.subvolumes.is_readonly(Path::new("/town/@agents-blank")).unwrap());
    // The fake has no real tree: record the homes the first run built, then run again.
    w.files.add("/town/@agents/ada", Kind::Dir, b"");
    w.files.add("/town/@agents/vox", Kind::Dir, b"");
    w.files.add("/agents", Kind::Symlink, b"/town/@agents");
    w.files.add("/town/@agents-blank", Kind::Dir, b"");
    let again = init(&town, &seams).unwrap();
    assert!(again.is_empty(), "a second init did {again:?}");
}
