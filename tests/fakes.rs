//! The fakes the unit tests act through are compiled for tests only: the townhall binary
//! root runs holds none of them (a fake seam that records instead of acting must never be
//! one configuration away from the real town).

use std::process::Command;

/// Every recording fake in the workspace's root-side crates.
const FAKES: [&str; 15] = [
    "FakeAccounts",
    "FakeAcls",
    "FakeDevices",
    "FakeFiles",
    "FakeGit",
    "FakeHost",
    "FakeKeys",
    "FakePorts",
    "FakePost",
    "FakePresence",
    "FakePublic",
    "FakeRemote",
    "FakeRun",
    "FakeSubvolumes",
    "FakeUserManagers",
];

#[test]
fn the_townhall_binary_links_no_fake() {
    let bin = env!("CARGO_BIN_EXE_townhall");
    let mut grep = Command::new("grep");
    grep.args(["-a", "-o", "-F"]);
    // A name the binary must hold, so the search is shown to find what is there.
    grep.args(["-e", "PosixAcls"]);
    for f in FAKES {
        grep.args(["-e", f]);
    }
    let out = grep.arg(bin).output().expect("grep runs");
    let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    assert_eq!(found, ["PosixAcls"], "in {bin}");
}
