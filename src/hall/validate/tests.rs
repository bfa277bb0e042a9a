//! Root's re-check of hall requests, tested: a checked request carries its resident, who
//! may ask for what, and the bounds on sizes and characters.

use super::*;

#[test]
fn a_checked_request_carries_its_resident() {
    let town = crate::testing::demo_town();
    let c = validate(&town, turn("@mayor:town.test", "!r:town.test", "hi")).unwrap();
    assert_eq!(c.resident.map(|r| r.name.as_str()), Some("ada"));
    let c = validate(&town, Ask::Devices).unwrap();
    assert!(c.resident.is_none());
    assert!(validate(&town, turn("@eve:town.test", "!r:town.test", "hi")).is_err());
}

fn turn(sender: &str, conversation: &str, prompt: &str) -> Ask {
    let reply = Reply {
        room: "!r:town.test".into(),
        thread: None,
        event: "$e".into(),
    };
    Ask::Turn {
        resident: "ada".into(),
        sender: sender.into(),
        conversation: conversation.into(),
        prompt: prompt.into(),
        reply,
    }
}

#[test]
fn a_mayors_turn_passes_and_strangers_do_not() {
    let town = crate::testing::demo_town();
    assert_eq!(
        check(&town, &turn("@mayor:town.test", "!r:town.test", "hi")),
        Ok(())
    );
    assert!(check(&town, &turn("@eve:town.test", "!r:town.test", "hi")).is_err());
    assert!(
        check(&town, &turn("@mayor:town.test", "!other:town.test", "hi")).is_err(),
        "conversation of another room"
    );
    let mut ghost = turn("@mayor:town.test", "!r:town.test", "hi");
    if let Ask::Turn { resident, .. } = &mut ghost {
        *resident = "../root".into();
    }
    assert!(check(&town, &ghost).unwrap_err().0.contains("no resident"));
}

#[test]
fn sizes_and_characters_are_bounded() {
    let town = crate::testing::demo_town();
    let big = "x".repeat(MAX_PROMPT + 1);
    assert!(
        check(&town, &turn("@mayor:town.test", "!r:town.test", &big))
            .unwrap_err()
            .0
            .contains("over the")
    );
    assert!(check(&town, &turn("@mayor:town.test", "!r:town.test", "a\0b")).is_err());
    assert!(check(&town, &turn("@mayor:town.test", "!r:town.test", "  ")).is_err());
    assert!(check(&town, &turn("@mayor:town.test", "!r:town.test\n", "hi")).is_err());
    let health = Ask::Health {
        resident: "ada".into(),
        health: "y".repeat(5000),
    };
    assert!(check(&town, &health).is_err());
}

#[test]
fn reset_names_a_mayor_and_residents_only_ask_for_turns_of_their_own() {
    let town = crate::testing::demo_town();
    assert_eq!(
        check(
            &town,
            &Ask::Reset {
                by: "@mayor:town.test".into(),
                resident: None,
            }
        ),
        Ok(())
    );
    let reset = |by: &str, resident: Option<&str>| Ask::Reset {
        by: by.into(),
        resident: resident.map(String::from),
    };
    assert_eq!(
        check(&town, &reset("@mayor:town.test", Some("ada"))),
        Ok(())
    );
    assert!(
        check(&town, &reset("@mayor:town.test", Some("nobody"))).is_err(),
        "a resident the town does not have"
    );
    assert!(check(&town, &reset("boot", None)).is_err());
    assert!(check(&town, &reset("@ada:town.test", None)).is_err());
    assert!(
        check(&town, &reset("@ada:town.test", Some("ada"))).is_err(),
        "not even her own"
    );
    let vox = "@vox:town.test";
    let allowed = town
        .resident("ada")
        .unwrap()
        .matrix
        .allow
        .iter()
        .any(|a| a == vox);
    let own = format!("!r:town.test/from:{vox}");
    assert_eq!(
        check(&town, &turn(vox, &own, "check this")).is_ok(),
        allowed
    );
    assert!(
        check(&town, &turn(vox, "!r:town.test", "check this")).is_err(),
        "a resident in the mayor's conversation"
    );
    assert!(
        check(
            &town,
            &Ask::Stop {
                resident: "ada".into(),
                sender: vox.into()
            }
        )
        .is_err()
    );
}

#[test]
fn only_a_residents_approvers_decide_and_clear_and_a_round_is_a_yes() {
    let mut town = crate::testing::demo_town();
    let decide = |by: &str, allow: bool, round: bool| Ask::Decide {
        id: 1,
        resident: "ada".into(),
        by: by.into(),
        allow,
        round,
    };
    assert_eq!(
        check(&town, &decide("@mayor:town.test", true, true)),
        Ok(())
    );
    assert!(check(&town, &decide("@mayor:town.test", false, true)).is_err());
    assert!(check(&town, &decide("@eve:town.test", true, false)).is_err());
    let ada = town.residents.iter_mut().find(|r| r.name == "ada").unwrap();
    ada.matrix.approve_by = Some(vec!["@rita:town.test".into(), "@vox:town.test".into()]);
    assert_eq!(
        check(&town, &decide("@rita:town.test", false, false)),
        Ok(())
    );
    let refused = check(&town, &decide("@mayor:town.test", true, false)).unwrap_err();
    assert!(refused.0.contains("does not approve ada's"), "{refused:?}");
    assert!(
        check(&town, &decide("@vox:town.test", true, false)).is_err(),
        "a resident never approves, even when named"
    );
    let approvals = |by: &str, clear: bool| Ask::Approvals {
        resident: "ada".into(),
        by: by.into(),
        clear,
    };
    assert_eq!(check(&town, &approvals("@rita:town.test", true)), Ok(()));
    assert_eq!(check(&town, &approvals("@rita:town.test", false)), Ok(()));
    assert!(check(&town, &approvals("@eve:town.test", false)).is_err());
    assert_eq!(check(&town, &approvals("@mayor:town.test", false)), Ok(()));
    assert!(check(&town, &approvals("@mayor:town.test", true)).is_err());
}
