//! The reset refuses before it acts: a live path that is no subvolume or leads to /, a
//! missing or writable blank, persist inside the live subvolume, a missing secret or a
//! taken uid, each with nothing done.

use super::*;

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
