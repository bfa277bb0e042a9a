//! The reset acts in order: the new round built beside the live one and swapped in, each
//! home rebuilt and handed over last, planted persist entries moved aside, one failing
//! home leaving the others built, and a failed snapshot leaving the live round in place.

use super::*;

#[test]
fn a_reset_levels_then_rebuilds_each_home_and_hands_it_over_last() {
    let w = world();
    let plan = plan(&w).unwrap();
    let (report, _) = apply_reset(&plan, &seams(&w), 7, &mut |_| {}).unwrap();
    let calls = w.subvolumes.calls.calls();
    assert_eq!(
        calls[..4],
        [
            "snapshot /town/@agents-blank /town/@agents.next ro=false",
            "create /town/@agents.next/ada",
            "create /town/@agents.next/vox",
            "exchange /town/@agents /town/@agents.next"
        ],
        "the new round is built beside the live one, each home a subvolume of its own, and swapped in whole"
    );
    assert_eq!(
        calls[4], "seal /town/@agents.next",
        "the old round is out of the residents' reach first"
    );
    assert!(
        calls[5].starts_with("rename /town/@agents.next /town/@agents.retired-"),
        "the old one retired, not deleted: {calls:?}"
    );
    assert_eq!(
        calls.len(),
        6,
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
        Some(&"own /town/@agents.next/ada 0:0 700"),
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
