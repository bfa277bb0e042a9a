//! Putting a host right outside a reset: recovery retires what an interrupted reset left,
//! init creates what is missing (twice doing nothing more), and a garbled round counter is
//! repaired from the live round's marker.

use super::*;

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
    for (name, uid) in [("ada", 1100), ("vox", 1101)] {
        let home = format!("/town/@agents/{name}");
        assert!(
            w.subvolumes.is_subvolume(Path::new(&home)).unwrap(),
            "{name}'s home is a subvolume of its own"
        );
        let own = format!("own {home} {uid}:{uid} 700");
        assert!(
            w.files.calls.calls().contains(&own),
            "{name}'s home is hers"
        );
    }
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
