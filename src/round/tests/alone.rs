//! A resident's round ended alone: only its home is exchanged, only it is levelled, its
//! round alone goes up, a home that is not a subvolume of its own is refused before
//! anything is done, and a reset killed at any step is finished by recovery.

use super::*;

/// The prepared host after a town reset: each home a subvolume of its own.
fn homes_apart(w: &World) {
    for name in ["ada", "vox"] {
        let home = format!("/town/@agents/{name}");
        w.subvolumes.create(Path::new(&home)).unwrap();
        w.files.add(&home, Kind::Dir, b"");
    }
    w.subvolumes.calls.clear();
}

fn alone(w: &World, names: &[&str]) -> Result<ResetPlan, Vec<Refusal>> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    plan_for(&demo_town(), &names, &w.subvolumes, &w.files, &w.accounts)
}

#[test]
fn a_resident_reset_alone_exchanges_its_home_only_and_counts_its_round_only() {
    let w = world();
    homes_apart(&w);
    let state = tempfile::tempdir().unwrap();
    RoundState::new(state.path()).set_round(4).unwrap();
    let plan = alone(&w, &["ada"]).unwrap();
    assert!(plan.alone);
    let report = run_reset(&plan, &seams(&w), state.path(), "a test", &mut |_| {}).unwrap();
    let calls = w.subvolumes.calls.calls();
    assert_eq!(calls[0], "create /town/@agents.home-ada.next");
    let wrapper = calls[1].strip_prefix("create ").unwrap().to_string();
    assert!(
        wrapper.starts_with("/town/@agents.retired-") && wrapper.ends_with(".ada.4"),
        "the old home retires as ada's round 4: {calls:?}"
    );
    assert_eq!(
        calls[2..],
        [
            format!("seal {wrapper}"),
            "exchange /town/@agents/ada /town/@agents.home-ada.next".into(),
            format!("rename /town/@agents.home-ada.next {wrapper}/ada"),
        ],
        "sealed before the old home is in it; nothing deleted on the critical path"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.contains("vox") || c.contains("@agents.next")),
        "vox's home and the town's round are not touched: {calls:?}"
    );
    let presence = w.presence.calls.calls();
    assert!(presence.contains(&"kill_all 1100".to_string()));
    assert!(
        !presence.iter().any(|c| c.contains("1101")),
        "vox is not levelled: {presence:?}"
    );
    let files = w.files.calls.calls();
    assert!(
        files.contains(&"own /town/@agents.home-ada.next 1100:1100 700".to_string()),
        "the new home is hers at the end: {files:?}"
    );
    assert!(!files.iter().any(|c| c.contains("vox")), "{files:?}");
    let rounds = RoundState::new(state.path());
    assert_eq!(report.rounds, [("ada".to_string(), 5)].into());
    assert_eq!(rounds.round_of("ada"), Ok(5));
    assert_eq!(rounds.round_of("vox"), Ok(4));
    assert_eq!(rounds.round(), Ok(4), "the town's round is where it was");
    assert!(
        pending(state.path(), "ada").is_none(),
        "nothing left pending"
    );
    assert!(
        w.subvolumes
            .is_subvolume(Path::new(&format!("{wrapper}/ada")))
            .unwrap()
    );
}

#[test]
fn a_home_that_is_not_a_subvolume_of_its_own_or_an_unknown_name_is_refused_first() {
    let w = world();
    w.files.add("/town/@agents/ada", Kind::Dir, b"");
    let refused = alone(&w, &["ada", "nobody"]).unwrap_err();
    assert!(
        refused
            .iter()
            .any(|r| matches!(r, Refusal::HomeNotSubvolume { resident, .. } if resident == "ada")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|r| matches!(r, Refusal::UnknownResident { name } if name == "nobody")),
        "{refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|r| r.to_string().contains("townhall reset` with no name")),
        "says what to do"
    );
    nothing_done(&w);
    // A symlink where her home belongs is not a home either.
    let w = world();
    w.files.add("/town/@agents/ada", Kind::Symlink, b"/etc");
    assert!(alone(&w, &["ada"]).is_err());
}

#[test]
fn a_home_reset_killed_after_the_exchange_is_finished_and_one_killed_before_is_undone() {
    for exchanged in [true, false] {
        let w = world();
        homes_apart(&w);
        let mut town = demo_town();
        let state = tempfile::tempdir().unwrap();
        town.state = state.path().to_owned();
        RoundState::new(&town.state).set_round(4).unwrap();
        let next = Path::new("/town/@agents.home-ada.next");
        w.subvolumes.create(next).unwrap();
        let new_id = w.subvolumes.id(next).unwrap();
        let p = Pending {
            round: 5,
            id: new_id,
            lived: 4,
        };
        std::fs::write(
            state.path().join("home-reset-ada.json"),
            serde_json::to_vec(&p).unwrap(),
        )
        .unwrap();
        if exchanged {
            w.subvolumes
                .exchange(Path::new("/town/@agents/ada"), next)
                .unwrap();
        }
        w.subvolumes.calls.clear();
        let done = recover(&town, &w.subvolumes, &w.files).unwrap();
        let calls = w.subvolumes.calls.calls();
        let rename = calls.iter().find(|c| c.starts_with("rename ")).unwrap();
        let (want_round, want_said) = if exchanged {
            (5, "the old home")
        } else {
            (4, "never put in place")
        };
        assert!(
            rename.ends_with(&format!(".ada.{}/ada", if exchanged { 4 } else { 0 })),
            "{calls:?}"
        );
        assert!(done.iter().any(|d| d.contains(want_said)), "{done:?}");
        assert_eq!(RoundState::new(&town.state).round_of("ada"), Ok(want_round));
        assert!(pending(&town.state, "ada").is_none());
        assert!(!w.subvolumes.is_subvolume(next).unwrap());
    }
}

#[test]
fn a_home_that_fails_alone_degrades_only_itself() {
    let w = world();
    homes_apart(&w);
    let state = tempfile::tempdir().unwrap();
    RoundState::new(state.path()).set_round(4).unwrap();
    *w.files.fail_under.lock().unwrap() = Some("/town/@agents.home-ada.next/.gitconfig".into());
    let plan = alone(&w, &["ada", "vox"]).unwrap();
    let report = run_reset(&plan, &seams(&w), state.path(), "a test", &mut |_| {}).unwrap();
    assert!(report.degraded.contains_key("ada"), "{report:?}");
    assert_eq!(report.rounds, [("vox".to_string(), 5)].into());
    let calls = w.subvolumes.calls.calls();
    assert!(
        calls.contains(&"exchange /town/@agents/vox /town/@agents.home-vox.next".to_string()),
        "vox's home is exchanged: {calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("exchange /town/@agents/ada")),
        "ada's old home stays in place: {calls:?}"
    );
    let rounds = RoundState::new(state.path());
    assert_eq!(rounds.round_of("ada"), Ok(4), "ada's round did not end");
    assert_eq!(rounds.round_of("vox"), Ok(5));
}
