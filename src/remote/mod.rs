//! The town remote: bare repositories owned by a system user of their own (never a
//! resident, never root), that residents push to through a townhall pipe (the daemon knows
//! the pusher by SO_PEERCRED) and a pre-receive hook townhall implements, and that the
//! mayor fetches from by path or over SSH.

mod hook;
mod leftovers;
mod notice;
mod pipe;
mod receive;
mod seam;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use hook::{Rejection, check_ref, pre_receive};
pub use notice::{branches, push_notices, refs_of};
pub use pipe::{Pipe, push_client};
pub use receive::SLICE;
#[cfg(test)]
pub use seam::FakeRemote;
pub use seam::{HostRemote, Refs, TownRemote, after_reset};

use crate::config::{Resident, Town};
use crate::os::{OsContext, OsError};

/// The system user that owns the town remote's repositories (and runs receive-pack).
pub const GIT_USER: &str = "townhall-git";

pub fn repos_dir() -> PathBuf {
    Path::new(crate::public::DIR).join("git")
}

pub fn repo_path(name: &str) -> PathBuf {
    repos_dir().join(format!("{name}.git"))
}

/// The socket residents' `git push` reaches the daemon on.
pub fn pipe_socket() -> PathBuf {
    PathBuf::from("/run/townhall-push.sock")
}

/// The command git runs for `git push town` (it appends the repository's path).
pub const RECEIVE_PACK: &str = "townhall push";

fn run(cmd: &mut Command, what: impl Fn() -> String) -> Result<(), OsError> {
    let out = cmd.output().os(&what)?;
    if out.status.success() {
        return Ok(());
    }
    Err(OsError::new(
        what(),
        format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    ))
}

fn git_user() -> Result<nix::unistd::User, OsError> {
    nix::unistd::User::from_name(GIT_USER)
        .os(|| format!("looking up {GIT_USER}"))?
        .ok_or_else(|| OsError::new(format!("looking up {GIT_USER}"), "no such user"))
}

/// git as the remote's user with umask 022: the repositories are world-readable (the mayor
/// fetches as themself) without git's shared-repository mode, whose setgid directories the
/// daemon's RestrictSUIDSGID= forbids.
pub(crate) fn git_as(uid: u32, gid: u32, home: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = crate::git::as_user(uid, gid, home);
    // SAFETY: umask is async-signal-safe and touches nothing else.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0o022);
            Ok(())
        });
    }
    c
}

/// Make what the remote needs: its user, and each declared repository (bare, owned by that
/// user, fast-forward only, no deletions, townhall's pre-receive hook). Idempotent.
pub fn prepare(town: &Town) -> Result<Vec<String>, OsError> {
    let mut done = Vec::new();
    if town.repos.is_empty() {
        return Ok(done);
    }
    if nix::unistd::User::from_name(GIT_USER)
        .ok()
        .flatten()
        .is_none()
    {
        run(
            Command::new("useradd").args([
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                GIT_USER,
            ]),
            || format!("creating the system user {GIT_USER}"),
        )?;
        done.push(format!("created the system user {GIT_USER}"));
    }
    let user = git_user()?;
    let dir = repos_dir();
    std::fs::create_dir_all(&dir).os(|| format!("creating {}", dir.display()))?;
    let exe = std::env::current_exe().os(|| "finding the townhall binary".into())?;
    for r in &town.repos {
        let path = repo_path(&r.name);
        let (uid, gid) = (user.uid.as_raw(), user.gid.as_raw());
        if !path.exists() {
            std::fs::create_dir(&path).os(|| format!("creating {}", path.display()))?;
            nix::unistd::chown(&path, Some(user.uid), Some(user.gid))
                .os(|| format!("handing {} to {GIT_USER}", path.display()))?;
            run(
                git_as(uid, gid, Path::new("/nonexistent"))
                    .args(["init", "-q", "--bare"])
                    .arg(&path),
                || format!("creating {}", path.display()),
            )?;
            done.push(format!("created the repository {}", path.display()));
        }
        for (k, v) in [
            ("receive.denyNonFastForwards", "true"),
            ("receive.denyDeletes", "true"),
            ("receive.fsckObjects", "true"),
            ("core.sharedRepository", "umask"),
        ] {
            run(
                git_as(uid, gid, Path::new("/nonexistent"))
                    .arg("-C")
                    .arg(&path)
                    .args(["config", k, v]),
                || format!("configuring {}", path.display()),
            )?;
        }
        let hook = format!(
            "#!/bin/sh\n# townhall: who may push what (see `townhall hook --help`)\nexec {} hook pre-receive\n",
            exe.display()
        );
        install_hook(&path, hook.as_bytes())
            .os(|| format!("installing the pre-receive hook of {}", path.display()))?;
    }
    Ok(done)
}

/// The hook is root's: the git user runs it but cannot change it. Written by descriptor (the
/// repository is the git user's): `hooks` opened without following a link and made root's
/// before anything is written in it, the file written beside and renamed into place.
fn install_hook(repo: &Path, text: &[u8]) -> nix::Result<()> {
    use nix::fcntl::{OFlag, openat, renameat};
    use nix::sys::stat::{Mode, fchmod, mkdirat};
    let dir = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let repo = nix::fcntl::open(repo, dir, Mode::empty())?;
    match mkdirat(&repo, "hooks", Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let hooks = openat(&repo, "hooks", dir, Mode::empty())?;
    nix::unistd::fchown(
        &hooks,
        Some(nix::unistd::Uid::from_raw(0)),
        Some(nix::unistd::Gid::from_raw(0)),
    )?;
    fchmod(&hooks, Mode::from_bits_truncate(0o755))?;
    let current = openat(
        &hooks,
        "pre-receive",
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
    .map(|fd| {
        let mut s = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut s);
        s
    });
    if current.as_deref() == Some(text) {
        return Ok(());
    }
    let _ = nix::unistd::unlinkat(
        &hooks,
        "pre-receive.new",
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    let create =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(
        &hooks,
        "pre-receive.new",
        create,
        Mode::from_bits_truncate(0o755),
    )?;
    fchmod(&fd, Mode::from_bits_truncate(0o755))?;
    std::io::Write::write_all(&mut std::fs::File::from(fd), text)
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    renameat(&hooks, "pre-receive.new", &hooks, "pre-receive")
}

/// How long setting up one repository as the resident may take.
const SET_UP_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// In the resident's workspace, a repository per declared [[repo]] it may push to, with the
/// remote `town` that pushes through townhall's pipe. Run as the resident (git never runs as
/// root on a resident's tree), one unit per repository in its slice; after every reset.
pub fn set_up_workspace(town: &Town, r: &Resident) -> Vec<String> {
    let mut problems = Vec::new();
    let home = town.home(r);
    let workspace = home.join(&r.agent.workspace);
    // The home's gitconfig is new each round, so one --add per reset.
    let script = r#"set -e
git config --global --add safe.directory "$1" || { echo "trusting the town remote failed" >&2; exit 1; }
git init -q "$2" || { echo "making the repository failed" >&2; exit 1; }
git -C "$2" config remote.town.url "$1" && git -C "$2" config remote.town.receivepack "$3" &&
  git -C "$2" config remote.town.fetch '+refs/heads/*:refs/remotes/town/*' || { echo "adding the remote town failed" >&2; exit 1; }"#;
    for repo in town.repos.iter().filter(|x| x.push.contains(&r.name)) {
        let (url, dir) = (
            repo_path(&repo.name).display().to_string(),
            workspace.join(&repo.name).display().to_string(),
        );
        let mut c = crate::units::helper::as_resident(
            r.uid,
            r.uid,
            &home,
            &[],
            0o022,
            SET_UP_WITHIN,
            "/bin/sh",
        );
        c.args(["-c", script, "sh", &url, &dir, RECEIVE_PACK]);
        if let Err(e) = run(&mut c, || {
            format!("{}: setting up {dir} with the remote `town`", r.name)
        }) {
            problems.push(e.to_string());
        }
    }
    problems
}
