//! The privilege boundary holds in the build: the chat binary depends on no root code and
//! no crate that only root's work needs, and none of root's modules is linked into it.

use std::process::Command;

/// Root's package, and crates only root's adapters use (D-Bus to systemd, udev, ACLs, git,
/// the signing keys, process tables).
const ROOT_ONLY: [&str; 9] = [
    "townhall",
    "zbus",
    "zbus_systemd",
    "udev",
    "exacl",
    "git2",
    "ssh-key",
    "ssh-agent-lib",
    "sysinfo",
];

#[test]
fn the_chat_depends_on_no_root_crate() {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "-p", "townhall-chat"])
        .args(["-e", "normal,build", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for crate_ in [
        "townhall-config",
        "townhall-wire",
        "townhall-os",
        "matrix-sdk",
    ] {
        assert!(names.contains(&crate_), "{crate_} missing from:\n{tree}");
    }
    for crate_ in ROOT_ONLY {
        assert!(
            !names.contains(&crate_),
            "the chat depends on {crate_}:\n{tree}"
        );
    }
}

/// The symbols of `needles` that the chat binary holds (grep: the binary is hundreds of MB).
fn symbols_in_binary(needles: &[String]) -> Vec<String> {
    let mut grep = Command::new("grep");
    grep.args(["-a", "-o", "-F"]);
    for n in needles {
        grep.args(["-e", n]);
    }
    let out = grep
        .arg(env!("CARGO_BIN_EXE_townhall-chat"))
        .output()
        .expect("grep runs");
    let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_root_module_is_linked_into_the_chat_binary() {
    // Rust's symbol names spell each path segment with its length first.
    let own = "13townhall_chat6remote".to_string();
    assert_eq!(
        symbols_in_binary(std::slice::from_ref(&own)),
        [own],
        "the check finds the chat's own code"
    );
    let root: Vec<String> = [
        "5round", "5grant", "4sign", "5units", "5level", "6remote", "5serve",
    ]
    .iter()
    .map(|m| format!("8townhall{m}"))
    .collect();
    let linked = symbols_in_binary(&root);
    assert!(linked.is_empty(), "linked into townhall-chat: {linked:?}");
}
