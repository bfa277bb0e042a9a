//! The one reset procedure on a machine of fakes: its steps in their order, what does not
//! stop it (a key that cannot be read, a remote that fails), and a refusal that changes
//! nothing and ends no turn.

use super::*;
use crate::testing::{demo_town, prepared_machine};

/// Everything the procedure told its witness, in order.
#[derive(Default)]
struct Seen(Vec<String>);

impl Witness for Seen {
    fn progress(&mut self, line: &str) {
        self.0.push(format!("progress: {line}"));
    }
    fn warning(&mut self, line: &str) {
        self.0.push(format!("warning: {line}"));
    }
    fn before_levelling(&mut self, _: &[String]) {
        self.0.push("before levelling".into());
    }
}

impl Seen {
    fn at(&self, starting: &str) -> usize {
        self.0
            .iter()
            .position(|l| l.starts_with(starting))
            .unwrap_or_else(|| panic!("no {starting:?} in {:#?}", self.0))
    }
}

/// The demo town with its state in `dir`, and no walk of the host for shared dirs.
fn town_in(dir: &std::path::Path) -> Town {
    let mut town = demo_town();
    town.state = dir.into();
    std::fs::write(dir.join("shared-dirs.json"), "[]").unwrap();
    town
}

#[test]
fn a_reset_signs_then_ends_the_turns_then_levels_then_sets_up_the_remote() {
    let state = tempfile::tempdir().unwrap();
    let town = town_in(state.path());
    let mut m = prepared_machine();
    m.keys.broken.lock().unwrap().insert("vox".into());
    m.remote.fail = true;
    let mut seen = Seen::default();
    let report = end_round(&town, &[], &m, "a test", &mut seen).unwrap();
    assert_eq!((report.round, report.by.as_str()), (1, "a test"));
    // vox's key could not be read: its home is built without signing, and a person hears.
    let unsigned = seen.at("warning: vox: commits will not be signed");
    let before = seen.at("before levelling");
    let levelled = seen.at("progress: levelling ada");
    let remote = seen.at("warning: preparing the town remote");
    assert!(
        unsigned < before && before < levelled && levelled < remote,
        "{:#?}",
        seen.0
    );
    assert_eq!(
        seen.0.iter().filter(|l| *l == "before levelling").count(),
        1
    );
    let keys = m.keys.calls.calls();
    assert!(
        keys.contains(&"public ada".to_string())
            && keys.contains(&"publish /srv/townhall/allowed_signers".to_string()),
        "{keys:?}"
    );
    // A failed prepare does not skip the residents' workspaces.
    assert_eq!(
        m.remote.calls.calls(),
        ["prepare", "set up ada", "set up vox"]
    );
}

#[test]
fn a_refused_reset_ends_no_turn_and_asks_nothing_of_keys_or_remote() {
    let state = tempfile::tempdir().unwrap();
    let town = town_in(state.path());
    let m = prepared_machine();
    // /agents is a directory of its own, not the link to the live round: refused.
    m.files.add("/agents", crate::round::Kind::Dir, b"");
    let mut seen = Seen::default();
    let r = end_round(&town, &[], &m, "a test", &mut seen);
    assert!(matches!(r, Err(ResetError::Refused(_))), "{r:?}");
    assert!(
        !seen.0.iter().any(|l| l == "before levelling"),
        "{:#?}",
        seen.0
    );
    assert!(m.keys.calls.calls().is_empty());
    assert!(m.remote.calls.calls().is_empty());
    assert!(m.presence.calls.calls().is_empty());
}
