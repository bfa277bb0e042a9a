//! Programs root runs as a resident: git in its workspace, the file hand-over. Each runs in
//! a transient unit of its own, in the resident's slice, under the resident's limits and a
//! time limit: never in root's cgroup (where a hostile repository or file could make it eat
//! root's memory) and never unbounded. `systemd-run --pipe` hands the unit this command's
//! stdin, stdout and stderr, so callers use it like the program itself. Where systemd is
//! not PID 1 (a development host, the unit tests), the program runs directly with the
//! resident's ids.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What a helper gets besides its argv: a clean environment of these.
pub const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A unit name of its own: `PREFIX-STAMP.service`.
pub fn unit_name(prefix: &str) -> String {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{stamp}.service")
}

/// A transient service `unit` of PID 1 that runs to its end with this command's stdin,
/// stdout and stderr (`systemd-run --wait --pipe`), in `slice`, with `properties`
/// (`Key=value`); the caller appends `--uid`, `--setenv` and the like, then `--` and the
/// program.
pub fn transient(unit: &str, slice: &str, description: &str, properties: &[String]) -> Command {
    let mut c = Command::new("systemd-run");
    c.args([
        "--quiet",
        "--collect",
        "--wait",
        "--pipe",
        "--service-type=exec",
    ])
    .arg(format!("--unit={unit}"))
    .arg(format!("--slice={slice}"))
    .arg(format!("--description={description}"));
    for p in properties {
        c.arg(format!("--property={p}"));
    }
    c
}

/// `program` as `uid`/`gid` with `HOME=home`, a clean environment plus `env`, in `/`,
/// with `umask` and at most `within`; append its arguments to the returned command.
pub fn as_resident(
    uid: u32,
    gid: u32,
    home: &Path,
    env: &[(&str, &str)],
    umask: u32,
    within: Duration,
    program: &str,
) -> Command {
    let root = nix::unistd::geteuid().is_root();
    if root && Path::new("/run/systemd/system").exists() {
        let properties = [
            format!("RuntimeMaxSec={}", within.as_secs().max(1)),
            format!("UMask={umask:04o}"),
            "NoNewPrivileges=yes".into(),
            "KillMode=control-group".into(),
        ];
        let slice = format!("user-{uid}.slice");
        let unit = unit_name(&format!("townhall-helper-{uid}"));
        let mut c = transient(
            &unit,
            &slice,
            "townhall: a helper as a resident",
            &properties,
        );
        c.arg("--working-directory=/")
            .arg(format!("--uid={uid}"))
            .arg(format!("--gid={gid}"))
            .arg(format!("--setenv=HOME={}", home.display()))
            .arg(format!("--setenv=PATH={PATH}"));
        for (k, v) in env {
            c.arg(format!("--setenv={k}={v}"));
        }
        c.arg("--").arg(program);
        return c;
    }
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(program);
    c.env_clear()
        .env("HOME", home)
        .env("PATH", PATH)
        .envs(env.iter().copied())
        .current_dir("/");
    if root {
        c.uid(uid).gid(gid);
    }
    // SAFETY: umask is async-signal-safe and touches nothing else.
    unsafe {
        c.pre_exec(move || {
            libc::umask(umask as libc::mode_t);
            Ok(())
        });
    }
    c
}
