//! The hall's shape, pinned: one example of every request, answer, notice and turn event,
//! written as the lines the wire carries and compared with `golden/hall-vN.jsonl` for the
//! current VERSION. A change of shape fails here until VERSION is bumped and the new
//! version's file recorded (`UPDATE_GOLDEN=1 cargo test -p townhall-wire`), which refuses
//! to overwrite a version already recorded.

mod examples;
mod variants;

use std::path::PathBuf;

use super::*;
use examples::{asks, s, saids};
use variants::{
    ASKS, EVENTS, NOTICES, SAIDS, ask_index, covers, event_index, notice_index, said_index,
};

fn golden_path(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("golden/hall-v{version}.jsonl"))
}

#[test]
fn the_hall_keeps_its_recorded_shape_until_its_version_is_bumped() {
    let (asks, saids) = (asks(), saids());
    covers(asks.iter().map(ask_index), ASKS, "the request");
    covers(saids.iter().map(said_index), SAIDS, "the answer");
    let notices = saids.iter().filter_map(|s| match s {
        Said::Notice { notice, .. } => Some(notice_index(notice)),
        _ => None,
    });
    covers(notices, NOTICES, "the notice");
    let events = saids.iter().filter_map(|s| match s {
        Said::Turn(e) => Some(event_index(e)),
        _ => None,
    });
    covers(events, EVENTS, "the turn event");

    let mut lines = Vec::new();
    for a in asks {
        let line = serde_json::to_string(&Envelope::new(a.clone())).unwrap();
        let back: Envelope = serde_json::from_str(&line).unwrap();
        assert_eq!(back.ask, a, "a request survives the wire");
        lines.push(line);
    }
    for said in saids {
        let line = serde_json::to_string(&said).unwrap();
        let back: Said = serde_json::from_str(&line).unwrap();
        assert_eq!(back, said, "an answer survives the wire");
        lines.push(line);
    }
    let now = lines.join("\n") + "\n";
    let path = golden_path(VERSION);
    let recorded = std::fs::read_to_string(&path).ok();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        assert!(
            recorded.as_ref().is_none_or(|r| *r == now),
            "{} is already recorded with another shape: bump VERSION in crates/wire/src/hall/mod.rs instead of rewriting it",
            path.display()
        );
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let recorded = recorded.unwrap_or_else(|| {
        panic!(
            "no {} for hall VERSION {VERSION}: record it with UPDATE_GOLDEN=1 cargo test -p townhall-wire",
            path.display()
        )
    });
    assert!(
        recorded == now,
        "the hall's shape changed but VERSION is still {VERSION}: bump VERSION in crates/wire/src/hall/mod.rs and record golden/hall-v{}.jsonl with UPDATE_GOLDEN=1 cargo test -p townhall-wire\n--- recorded\n{recorded}\n--- now\n{now}",
        VERSION + 1
    );
    // Every earlier version recorded is another shape: a bump came with a change.
    for v in 1..VERSION {
        if let Ok(old) = std::fs::read_to_string(golden_path(v)) {
            assert_ne!(
                old, now,
                "hall-v{v}.jsonl and hall-v{VERSION}.jsonl are the same shape"
            );
        }
    }
}

#[test]
fn requests_carry_their_version_beside_the_tag_and_unknown_ones_fail() {
    let line = serde_json::to_string(&Envelope::new(Ask::Stop {
        resident: s("ada"),
        sender: s("@mayor:town.test"),
    }))
    .unwrap();
    assert_eq!(
        line,
        format!(
            r#"{{"v":{VERSION},"request":"stop","resident":"ada","sender":"@mayor:town.test"}}"#
        )
    );
    for r in [Refused::InviteDeclined, Refused::MessageIgnored] {
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            r.event(),
            "one name on the wire and in the audit log"
        );
    }
    assert!(serde_json::from_str::<Envelope>(r#"{"v":2,"request":"format_disk"}"#).is_err());
}
