//! The push pipe's decisions on the fake remote: who may push where, what a pusher is told
//! when it may not (before receive-pack runs), and what the rooms are told of a push.

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use super::{Push, pushing};
use crate::config::Town;
use crate::hall::Notice;
use crate::remote::receive::Running;
use crate::remote::{FakeRemote, Refs};

/// Three descriptors as the client hands them over, and the read end of its stderr.
fn handed(n: usize) -> (Vec<OwnedFd>, std::fs::File) {
    let (err_read, err_write) = nix::unistd::pipe().unwrap();
    let (stdin, _) = nix::unistd::pipe().unwrap();
    let (_, stdout) = nix::unistd::pipe().unwrap();
    let fds = vec![stdin, stdout, err_write].into_iter().take(n).collect();
    (fds, err_read.into())
}

/// What a push came to: the bytes on the connection, the words on the pusher's stderr,
/// and what each resident's rooms were told.
type Came = (Vec<u8>, String, Vec<(String, Vec<Notice>)>);

/// Push as `uid` to `repo`, handing over `n` descriptors.
fn push(town: &Town, remote: &FakeRemote, uid: u32, repo: &str, n: usize) -> Came {
    let told = Arc::new(Mutex::new(vec![]));
    let pushed = {
        let told = told.clone();
        move |r: &str, n: Vec<Notice>| told.lock().unwrap().push((r.to_string(), n))
    };
    let running = Running::default();
    let p = Push {
        town,
        remote,
        running: &running,
        pushed: &pushed,
    };
    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let (fds, mut stderr) = handed(n);
    pushing(ours, uid, repo, fds, &p).unwrap();
    let (mut code, mut said) = (vec![], String::new());
    theirs.read_to_end(&mut code).unwrap();
    stderr.read_to_string(&mut said).unwrap();
    let told = told.lock().unwrap().clone();
    (code, said, told)
}

fn refs(pairs: &[(&str, &str)]) -> Refs {
    pairs
        .iter()
        .map(|(r, c)| (r.to_string(), c.to_string()))
        .collect()
}

fn ada(town: &Town) -> u32 {
    town.resident("ada").unwrap().uid
}

#[test]
fn an_allowed_push_runs_receive_pack_and_tells_the_rooms_what_it_changed() {
    let town = crate::testing::demo_town();
    let remote = FakeRemote::default();
    remote.refs.lock().unwrap().extend([
        refs(&[("refs/heads/ada/main", "a1")]),
        refs(&[("refs/heads/ada/main", "b2"), ("refs/heads/ada/new", "c3")]),
    ]);
    let (code, said, told) = push(&town, &remote, ada(&town), "work", 3);
    assert_eq!((code, said), (vec![0], String::new()));
    assert_eq!(
        remote.calls.calls(),
        [
            "refs work ada",
            "receive-pack work ada",
            "refs work ada",
            "notices work ada"
        ]
    );
    let [(who, notices)] = told.as_slice() else {
        panic!("{told:?}")
    };
    let changed: Vec<&str> = notices
        .iter()
        .filter_map(|n| match n {
            Notice::Pushed { refname, .. } => Some(refname.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(who, "ada");
    assert_eq!(changed, ["refs/heads/ada/main", "refs/heads/ada/new"]);
}

#[test]
fn a_push_receive_pack_refused_tells_the_rooms_nothing() {
    let town = crate::testing::demo_town();
    let remote = FakeRemote {
        code: 1,
        ..Default::default()
    };
    let (code, _, told) = push(&town, &remote, ada(&town), "work", 3);
    assert_eq!(code, [1]);
    assert!(told.is_empty(), "{told:?}");
    assert_eq!(
        remote.calls.calls(),
        ["refs work ada", "receive-pack work ada"]
    );
}

#[test]
fn who_may_not_push_is_told_why_before_receive_pack_runs() {
    let mut town = crate::testing::demo_town();
    town.repos[0].push = vec!["vox".into()];
    let uid = ada(&town);
    let table: &[(&str, u32, &str, usize, &str)] = &[
        (
            "not a resident",
            4242,
            "work",
            3,
            "uid 4242 is not a resident",
        ),
        ("no such repository", uid, "nope", 3, "no repository `nope`"),
        (
            "not in its push list",
            uid,
            "work",
            3,
            "ada may not push to `work`",
        ),
    ];
    for (case, uid, repo, n, want) in table {
        let remote = FakeRemote::default();
        let (code, said, told) = push(&town, &remote, *uid, repo, *n);
        assert_eq!(code, [1], "{case}");
        assert!(said.contains(want), "{case}: {said}");
        assert!(
            remote.calls.calls().is_empty() && told.is_empty(),
            "{case}: acted"
        );
    }
    // Without a stderr to tell it on, the words go on the connection.
    let remote = FakeRemote::default();
    let (code, said, _) = push(&town, &remote, uid, "work", 2);
    let code = String::from_utf8_lossy(&code).to_string();
    assert!(
        code.starts_with('\x01') && code.contains("did not hand over stdin, stdout and stderr"),
        "{code:?} {said:?}"
    );
    assert!(remote.calls.calls().is_empty());
}
