//! Town tests: boot a real town (systemd as PID 1 in a container, btrfs on a loop device,
//! Synapse on loopback, host udevd) and drive it as a user would. Needs root.
//!
//! One town is booted for all trials (booting takes ~30 s), then torn down; the last trials
//! check that teardown left nothing behind, after success and after a failed start.

mod checks;
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use checks::order::{CHECKS, Check};
use libtest_mimic::{Arguments, Failed, Trial};
use support::town::{self, Options, Town};

fn run_dir(tag: &str) -> PathBuf {
    std::env::var_os("TOWN_RUN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/townhall-town"))
        .with_extension(tag)
}

fn trial(town: &Arc<Town>, name: &'static str, check: Check) -> Trial {
    let town = town.clone();
    Trial::test(name, move || {
        check(&town).map_err(|e| {
            // Said at once too: the summary comes only after every later check has run.
            eprintln!("\n{name} failed: {e:#}");
            Failed::from(format!("{e:#}"))
        })
    })
}

fn nothing_is_left(run: &Path) -> Result<(), Failed> {
    let left = town::leftovers(run);
    if left.is_empty() {
        Ok(())
    } else {
        Err(format!("left behind:\n{}", left.join("\n")).into())
    }
}

fn a_failed_start_is_torn_down(run: PathBuf) -> Result<(), Failed> {
    // A unit that fails at boot leaves the town degraded: `up` fails after the loop device,
    // mounts, Synapse and the container all exist.
    let dir = tempfile::tempdir()?;
    let unit = dir.path().join("townhall-broken.service");
    std::fs::write(
        &unit,
        "[Service]\nType=oneshot\nExecStart=/bin/false\n[Install]\nWantedBy=multi-user.target\n",
    )?;
    let up = Town::up(
        &run,
        Options {
            units: vec![unit],
            ..Options::default()
        },
    );
    let Err(_) = up else {
        return Err("a town with a failing unit came up".into());
    };
    town::down(&run).map_err(|e| format!("{e:#}"))?;
    nothing_is_left(&run)
}

fn main() {
    let args = Arguments::from_args();
    let root = nix::unistd::geteuid().is_root();
    let checks = CHECKS;
    if args.list {
        let trials = checks
            .iter()
            .map(|(n, _)| Trial::test(*n, || Ok(())))
            .collect();
        libtest_mimic::run(&args, trials).exit();
    }
    if !root {
        // Not "ignored": a run that cannot boot the town has tested nothing, and says so.
        eprintln!(
            "error: the town tests need root: they boot systemd in a container, mount btrfs and run udevd"
        );
        eprintln!(
            "  help: run them as root, e.g. `sudo bash tests/run.sh` or `sudo -E cargo test --test town`"
        );
        std::process::exit(2);
    }
    if let Err(e) = support::network::isolate() {
        eprintln!("error: the town tests need a network namespace of their own: {e:#}");
        std::process::exit(2);
    }

    let run = run_dir("main");
    let booted = Town::up(
        &run,
        Options {
            units: town::shipped_units(),
            devices: vec!["/dev/ttyS0"],
            ..Options::default()
        },
    );
    let mut conclusion = match booted {
        Ok(town) => {
            let town = Arc::new(town);
            let trials = checks.iter().map(|(n, c)| trial(&town, n, *c)).collect();
            let mut a = args.clone();
            a.test_threads = Some(1);
            let c = libtest_mimic::run(&a, trials);
            let mut town = Arc::into_inner(town).expect("trials are done");
            if let Err(e) = town.down() {
                eprintln!("teardown: {e:#}");
            }
            c
        }
        Err(e) => {
            eprintln!("the town did not come up: {e:#}");
            let _ = town::down(&run);
            let trials = checks.iter().map(|(n, _)| {
                let msg = format!("the town did not come up: {e:#}");
                Trial::test(*n, move || Err(msg.clone().into()))
            });
            libtest_mimic::run(&args, trials.collect())
        }
    };

    let failed_run = run_dir("failed");
    let crowd_run = run_dir("crowd");
    let after = vec![
        // A town of its own: ten residents from a generated config.
        Trial::test(
            "crowd::a_burst_to_ten_residents_loses_none_across_a_restart",
            move || {
                let r =
                    checks::crowd::a_burst_to_ten_residents_loses_none_across_a_restart(&crowd_run)
                        .map_err(|e| Failed::from(format!("{e:#}")));
                r.and_then(|()| nothing_is_left(&crowd_run))
            },
        ),
        Trial::test(
            "teardown_leaves_no_mount_loop_container_or_synapse",
            move || nothing_is_left(&run),
        ),
        Trial::test("a_failed_start_is_torn_down_too", move || {
            a_failed_start_is_torn_down(failed_run.clone())
        }),
    ];
    let mut a = args.clone();
    a.test_threads = Some(1);
    let c2 = libtest_mimic::run(&a, after);
    conclusion.num_failed += c2.num_failed;
    conclusion.num_passed += c2.num_passed;
    conclusion.exit();
}
