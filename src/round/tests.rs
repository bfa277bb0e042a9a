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

#[test]
fn refuses_a_live_path_that_is_a_plain_directory() {
    let w = world();
    w.subvolumes
        .subvolumes
        .lock()
        .unwrap()
        .retain(|(p, _)| p != Path::new("/town/@agents"));
    let r = plan(&w).unwrap_err();
    assert!(
        matches!(&r[..], [Refusal::LiveNotSubvolume { .. }]),
        "{r:?}"
    );
    nothing_done(&w);
}

#[test]
fn refuses_a_live_path_that_leads_to_root() {
    let w = world();
    w.files.add("/town/@agents", Kind::Symlink, b"/");
    let r = plan(&w).unwrap_err();
    assert!(
        r.iter().any(|r| matches!(r, Refusal::LiveIsRoot { .. })),
        "{r:?}"
    );
    nothing_done(&w);
}

#[test]
fn refuses_a_missing_or_writable_blank() {
    let w = world();
    w.subvolumes
        .subvolumes
        .lock()
        .unwrap()
        .retain(|(p, _)| p != Path::new("/town/@agents-blank"));
    assert!(matches!(
        &plan(&w).unwrap_err()[..],
        [Refusal::BlankMissing { .. }]
    ));
    w.subvolumes
        .subvolumes
        .lock()
        .unwrap()
        .push(("/town/@agents-blank".into(), false));
    assert!(matches!(
        &plan(&w).unwrap_err()[..],
        [Refusal::BlankWritable { .. }]
    ));
    nothing_done(&w);
}

#[test]
fn refuses_persist_that_resolves_inside_the_live_subvolume() {
    let w = world();
    w.files
        .add("/persist", Kind::Symlink, b"/town/@agents/keep");
    let r = plan(&w).unwrap_err();
    assert!(
        matches!(&r[..], [Refusal::PersistInsideLive { .. }]),
        "{r:?}"
    );
}

#[test]
fn refuses_when_a_secret_is_missing_or_a_uid_is_taken() {
    let w = world();
    w.files
        .nodes
        .lock()
        .unwrap()
        .remove(Path::new("/run/secrets/townhall/ada-ssh-key"));
    w.accounts.accounts.lock().unwrap()[1].name = "bob".into();
    let r = plan(&w).unwrap_err();
    assert!(
        r.iter().any(|r| matches!(r, Refusal::SecretMissing { .. })),
        "{r:?}"
    );
    assert!(r.iter().any(|r| matches!(r, Refusal::Account(_))), "{r:?}");
    nothing_done(&w);
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

#[test]
fn a_reset_levels_then_rebuilds_each_home_and_hands_it_over_last() {
    let w = world();
    let plan = plan(&w).unwrap();
    let (report, _) = apply_reset(&plan, &seams(&w), 7, &mut |_| {}).unwrap();
    let calls = w.subvolumes.calls.calls();
    assert_eq!(
        calls[..2],
        [
            "snapshot /town/@agents-blank /town/@agents.next ro=false",
            "exchange /town/@agents /town/@agents.next"
        ],
        "the new round is built beside the live one and swapped in whole"
    );
    assert_eq!(
        calls[2], "seal /town/@agents.next",
        "the old round is out of the residents' reach first"
    );
    assert!(
        calls[3].starts_with("rename /town/@agents.next /town/@agents.retired-"),
        "the old one retired, not deleted: {calls:?}"
    );
    assert_eq!(
        calls.len(),
        4,
        "nothing deleted on the critical path: {calls:?}"
    );
    let presence = w.presence.calls.calls();
    assert!(
        presence.contains(&"kill_all 1100".to_string())
            && presence.contains(&"kill_all 1101".to_string()),
        "{presence:?}"
    );
    let calls = w.files.calls.calls();
    let ada: Vec<_> = calls
        .iter()
        .filter(|c| c.contains("/ada"))
        .map(String::as_str)
        .collect();
    assert_eq!(
        ada.first(),
        Some(&"mkdir /town/@agents.next/ada 0:0 700"),
        "the home is root's while it is built"
    );
    assert_eq!(
        ada.last(),
        Some(&"own /town/@agents.next/ada 1100:1100 700"),
        "and hers only at the end"
    );
    for want in [
        "mkdir /persist/ada/work 1100:1100 700",
        "link /town/@agents.next/ada/work -> /persist/ada/work",
        "file /persist/ada/.bash_history 1100:1100 600",
        "link /town/@agents.next/ada/.bash_history -> /persist/ada/.bash_history",
        "mkdir /town/@agents.next/ada/.ssh 1100:1100 700",
        "file /town/@agents.next/ada/.ssh/id_ed25519 1100:1100 400",
        "file /town/@agents.next/ada/.gitconfig 1100:1100 644",
    ] {
        assert!(ada.contains(&want), "missing `{want}` in {ada:#?}");
    }
    assert!(
        calls.contains(&"file /town/@agents.next/.townhall-round 0:0 644".to_string()),
        "no round marker: {calls:#?}"
    );
    assert_eq!(
        report.survived["ada"],
        [
            PathBuf::from("work"),
            ".claude".into(),
            ".bash_history".into()
        ]
    );
    assert_eq!(
        w.git.calls.calls(),
        [
            "identity Ada <ada@town.test>",
            "identity Vox <vox@town.test>"
        ]
    );
    assert!(report.warnings().is_empty(), "{:?}", report.warnings());
}

#[test]
fn planted_persist_entries_are_moved_aside_and_the_home_is_built() {
    let w = world();
    w.files.add_owned("/persist/ada", Kind::Dir, 1100);
    w.files.add("/persist/ada/work", Kind::Symlink, b"/etc");
    w.files.add_owned("/persist/ada/.claude", Kind::Dir, 0);
    w.files
        .add_owned("/persist/ada/.bash_history", Kind::Other, 1100);
    let plan = plan(&w).unwrap();
    let found: Vec<_> = plan.homes[0]
        .misfits
        .iter()
        .map(|m| (m.path.display().to_string(), m.found.clone()))
        .collect();
    assert_eq!(
        found,
        [
            ("work".to_string(), "a symlink to /etc".to_string()),
            (".claude".into(), "an entry owned by uid 0".into()),
            (
                ".bash_history".into(),
                "a fifo, socket or device node".into()
            ),
        ]
    );
    let (report, _) = apply_reset(&plan, &seams(&w), 7, &mut |_| {}).unwrap();
    let moved: Vec<_> = report
        .quarantined
        .iter()
        .map(|q| q.moved_to.display().to_string())
        .collect();
    assert_eq!(
        moved,
        [
            "/persist/ada/.quarantine-round-7/work",
            "/persist/ada/.quarantine-round-7/.claude",
            "/persist/ada/.quarantine-round-7/.bash_history"
        ]
    );
    assert!(report.degraded.is_empty(), "{:?}", report.degraded);
    let calls = w.files.calls.calls();
    assert!(
        calls.contains(&"mkdir /persist/ada/work 1100:1100 700".to_string()),
        "no fresh work dir: {calls:#?}"
    );
    assert_eq!(report.warnings().len(), 3, "{:?}", report.warnings());
}

#[test]
fn one_home_failing_leaves_the_others_built() {
    let w = world();
    *w.files.fail_under.lock().unwrap() = Some("/town/@agents.next/ada".into());
    let plan = plan(&w).unwrap();
    let (report, _) = apply_reset(&plan, &seams(&w), 2, &mut |_| {}).unwrap();
    assert!(report.degraded.contains_key("ada"), "{:?}", report.degraded);
    assert!(
        report.survived.contains_key("vox"),
        "vox was not built: {:?}",
        report.survived
    );
    assert!(
        w.subvolumes
            .calls
            .calls()
            .iter()
            .any(|c| c.starts_with("exchange")),
        "the round did not begin"
    );
}

#[test]
fn a_snapshot_failing_leaves_the_live_round_in_place() {
    let w = world();
    w.subvolumes.fail.lock().unwrap().push("snapshot");
    let plan = plan(&w).unwrap();
    assert!(apply_reset(&plan, &seams(&w), 2, &mut |_| {}).is_err());
    assert!(
        w.subvolumes
            .is_subvolume(Path::new("/town/@agents"))
            .unwrap(),
        "the live round is gone"
    );
    assert!(
        !w.subvolumes
            .calls
            .calls()
            .iter()
            .any(|c| c.starts_with("delete /town/@agents")),
        "{:?}",
        w.subvolumes.calls.calls()
    );
}

#[test]
fn recovery_retires_what_an_interrupted_reset_left_and_records_the_round() {
    let w = world();
    let mut town = demo_town();
    let state = tempfile::tempdir().unwrap();
    town.state = state.path().to_owned();
    // Killed after the exchange: the new round (8) is live, the old one (7) is beside it.
    w.subvolumes
        .subvolumes
        .lock()
        .unwrap()
        .push(("/town/@agents.next".into(), false));
    w.files
        .add("/town/@agents/.townhall-round", Kind::File, b"8\n");
    w.files
        .add("/town/@agents.next/.townhall-round", Kind::File, b"7\n");
    RoundState::new(&town.state).set_round(7).unwrap();
    let done = recover(&town, &w.subvolumes, &w.files).unwrap();
    let calls = w.subvolumes.calls.calls();
    assert!(
        matches!(&calls[..], [s, c] if s == "seal /town/@agents.next" && c.starts_with("rename /town/@agents.next /town/@agents.retired-")),
        "{calls:?}"
    );
    assert!(done[0].contains("the old round"), "{done:?}");
    assert_eq!(RoundState::new(&town.state).round(), Ok(8));
    // A town with no live subvolume (an older townhall died between delete and snapshot).
    w.subvolumes
        .subvolumes
        .lock()
        .unwrap()
        .retain(|(p, _)| p != Path::new("/town/@agents"));
    w.files
        .nodes
        .lock()
        .unwrap()
        .remove(Path::new("/town/@agents"));
    w.subvolumes
        .subvolumes
        .lock()
        .unwrap()
        .push(("/town/@agents.next".into(), false));
    recover(&town, &w.subvolumes, &w.files).unwrap();
    assert!(
        w.subvolumes
            .is_subvolume(Path::new("/town/@agents"))
            .unwrap()
    );
    assert!(
        recover(&town, &w.subvolumes, &w.files).unwrap().is_empty(),
        "a second recovery did something"
    );
}

#[test]
fn init_creates_what_is_missing_and_is_idempotent() {
    let w = world();
    w.subvolumes.subvolumes.lock().unwrap().clear();
    w.subvolumes
        .subvolumes
        .lock()
        .unwrap()
        .push(("/town".into(), false));
    w.files
        .nodes
        .lock()
        .unwrap()
        .retain(|p, _| !p.starts_with("/town/@agents") && p != Path::new("/agents"));
    w.accounts.accounts.lock().unwrap().clear();
    let seams = Seams {
        subvolumes: &w.subvolumes,
        files: &w.files,
        accounts: &w.accounts,
        git: &w.git,
        presence: &w.presence,
    };
    let town = demo_town();
    let done = init(&town, &seams).unwrap();
    assert!(
        done.iter().any(|d| d.contains("blank subvolume")),
        "{done:?}"
    );
    assert!(
        done.iter().any(|d| d.contains("created user ada")),
        "{done:?}"
    );
    assert!(
        w.subvolumes
            .is_readonly(Path::new("/town/@agents-blank"))
            .unwrap()
    );
    // The fake has no real tree: record the homes the first run built, then run again.
    w.files.add("/town/@agents/ada", Kind::Dir, b"");
    w.files.add("/town/@agents/vox", Kind::Dir, b"");
    w.files.add("/agents", Kind::Symlink, b"/town/@agents");
    w.files.add("/town/@agents-blank", Kind::Dir, b"");
    let again = init(&town, &seams).unwrap();
    assert!(again.is_empty(), "a second init did {again:?}");
}

#[test]
fn a_garbled_counter_is_repaired_from_the_live_rounds_marker_and_never_read_as_0() {
    let w = world();
    let mut town = demo_town();
    let state = tempfile::tempdir().unwrap();
    town.state = state.path().to_owned();
    w.files
        .add("/town/@agents/.townhall-round", Kind::File, b"12\n");
    std::fs::write(state.path().join("round"), "\0\0\0").unwrap();
    assert!(RoundState::new(&town.state).round().is_err());
    let done = recover(&town, &w.subvolumes, &w.files).unwrap();
    assert!(done.iter().any(|d| d.contains("round 12")), "{done:?}");
    assert_eq!(RoundState::new(&town.state).round(), Ok(12));
}
