//! townhall: AI agents as real Unix users on a real Linux machine.
//!
//! The core decides, adapters act: `config` declares the town, each concern plans against
//! what it observes through a small trait (accounts, subvolumes, user managers, ACLs, udev,
//! git, chat), and only the adapters behind those traits touch the OS.

pub mod approve;
pub mod audit;
/// The declared town, from its own crate: the chat process links it too.
pub use townhall_config as config;
pub mod control;
pub mod egress;
pub mod files;
pub mod git;
pub mod grant;
pub mod hall;
pub mod level;
pub mod machine;
pub mod os;
pub mod public;
pub mod remote;
pub mod reset;
pub mod resident;
pub mod round;
pub mod schedule;
pub mod serve;
pub mod sign;
pub mod tools;
pub mod turn;
pub mod units;
pub mod worktree;

#[cfg(test)]
pub(crate) mod testing {
    use crate::config::{Town, load};

    /// A machine of fakes, holding `accounts`: nothing a test does through it reaches the host.
    pub type FakeMachine = crate::machine::Parts<
        crate::round::FakeSubvolumes,
        crate::round::FakeFiles,
        crate::resident::FakeAccounts,
        crate::git::FakeGit,
        crate::level::FakePresence,
        crate::level::FakeHost,
        crate::sign::FakeKeys,
        crate::remote::FakeRemote,
        crate::grant::FakePorts,
        crate::public::FakePublic,
        crate::files::FakePost,
        crate::worktree::FakeWorktrees,
        crate::schedule::FakeTimers,
    >;

    pub fn fake_machine(accounts: Vec<crate::resident::Account>) -> FakeMachine {
        crate::machine::Parts {
            subvolumes: Default::default(),
            files: Default::default(),
            accounts: crate::resident::FakeAccounts::with(accounts),
            git: Default::default(),
            presence: Default::default(),
            settings: Default::default(),
            keys: Default::default(),
            remote: Default::default(),
            serial: Default::default(),
            public: Default::default(),
            post: Default::default(),
            worktrees: Default::default(),
            timers: Default::default(),
        }
    }

    /// The demo town's host as a fake machine holding ada and vox: both subvolumes,
    /// /agents → the live one, /persist, and ada's deployed secret.
    pub fn prepared_machine() -> FakeMachine {
        use crate::round::Kind;
        let account = |name: &str, uid| crate::resident::Account {
            name: name.into(),
            uid,
            gid: uid,
            home: format!("/agents/{name}").into(),
            shell: "/bin/bash".into(),
        };
        let m = fake_machine(vec![account("ada", 1100), account("vox", 1101)]);
        m.subvolumes.subvolumes.lock().unwrap().extend([
            ("/town/@agents".into(), false),
            ("/town/@agents-blank".into(), true),
        ]);
        m.files.add("/", Kind::Dir, b"");
        m.files.add("/town/@agents", Kind::Dir, b"");
        m.files.add("/agents", Kind::Symlink, b"/town/@agents");
        m.files.add("/persist", Kind::Dir, b"");
        m.files
            .add("/run/secrets/townhall/ada-ssh-key", Kind::File, b"KEY");
        m
    }

    /// An FTDI adapter at `node`, as ada's shipped device rule wants it.
    pub fn ftdi_adapter(node: &str) -> crate::grant::Device {
        use std::collections::BTreeMap;
        let usb: BTreeMap<String, String> = [("idVendor", "0403"), ("idProduct", "6001")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::grant::Device {
            syspath: format!("/sys/devices/usb1/1-2/1-2:1.0{node}").into(),
            devnode: Some(node.into()),
            subsystem: "tty".into(),
            sysname: node.trim_start_matches("/dev/").into(),
            properties: BTreeMap::new(),
            tags: vec![],
            attrs: vec![BTreeMap::new(), usb],
        }
    }

    /// The shipped example town (town.toml + residents/), as every unit test's starting point.
    pub fn demo_town() -> Town {
        load(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).expect("the shipped config is valid")
    }
}
