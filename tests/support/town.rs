//! A real town for tests: a thin Rust face on tests/town/town.sh (the harness the demo uses too).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, bail};

use super::mayor::Credentials;

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    repo().join("tests/town/town.sh")
}

/// The units and sysusers file a town is booted with: the ones dist/ ships.
pub fn shipped_units() -> Vec<PathBuf> {
    [
        "dist/townhall.sysusers",
        "dist/townhall.service",
        "dist/townhall-reset.service",
        "dist/townhall-chat.service",
        "dist/townhall-gate.service",
        "dist/townhall-git.slice",
        "dist/townhall-journald.conf",
    ]
    .map(|u| repo().join(u))
    .to_vec()
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_townhall")
}

/// The chat's and the gate's binaries, built beside root's (cargo test builds only this
/// package's: a stale one would test old code, so each must be newer than every source it
/// is made from).
fn other_binaries_are_fresh() -> anyhow::Result<()> {
    let shared = ["crates/wire/src", "crates/config/src", "crates/os/src"];
    for (name, own) in [
        ("townhall-chat", "crates/chat/src"),
        ("townhall-gate", "crates/gate/src"),
    ] {
        let bin = Path::new(binary()).with_file_name(name);
        let built = std::fs::metadata(&bin)
            .and_then(|m| m.modified())
            .with_context(|| format!("no {}: run cargo build -p {name}", bin.display()))?;
        for dir in std::iter::once(own).chain(shared) {
            for entry in walk(&repo().join(dir))? {
                if entry.metadata()?.modified()? > built {
                    bail!(
                        "{} is older than {}: run cargo build -p {name}",
                        bin.display(),
                        entry.path().display()
                    );
                }
            }
        }
    }
    Ok(())
}

fn walk(dir: &Path) -> anyhow::Result<Vec<std::fs::DirEntry>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            out.extend(walk(&e.path())?);
        } else {
            out.push(e);
        }
    }
    Ok(out)
}

/// Run the harness with a run dir; its progress (stderr) shows in the test log.
fn harness(run: &Path, args: &[&str]) -> std::io::Result<Output> {
    command(run, args).stderr(Stdio::inherit()).output()
}

/// Run the harness capturing stderr too: for commands whose error output a test reads.
fn captured(run: &Path, args: &[&str]) -> std::io::Result<Output> {
    command(run, args).output()
}

fn command(run: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("bash");
    c.arg(script())
        .args(args)
        .env("TOWN_RUN", run)
        .stdin(Stdio::null());
    c
}

/// Build the harness's caches (rootfs, Synapse) if they are not there yet.
pub fn prepare() -> anyhow::Result<()> {
    let out = harness(&std::env::temp_dir(), &["prepare"])?;
    if !out.status.success() {
        bail!("town.sh prepare failed ({})", out.status);
    }
    Ok(())
}

pub struct Town {
    pub run: PathBuf,
    down: bool,
}

#[derive(Default)]
pub struct Options<'a> {
    pub config: Option<&'a Path>,
    pub units: Vec<PathBuf>,
    pub devices: Vec<&'a str>,
}

impl Town {
    /// Boot a town; on any failure it is torn down before the error is returned.
    pub fn up(run: &Path, opts: Options) -> anyhow::Result<Town> {
        other_binaries_are_fresh()?;
        let config = opts.config.unwrap_or(repo());
        let mut args: Vec<String> = vec![
            "up".into(),
            "--config".into(),
            config.display().to_string(),
            "--binary".into(),
            binary().into(),
        ];
        for u in &opts.units {
            let name = u.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let flag = match name {
                n if n.ends_with(".sysusers") => "--sysusers",
                n if n.ends_with("-journald.conf") => "--journald",
                _ => "--unit",
            };
            args.extend([flag.into(), u.display().to_string()]);
        }
        for d in &opts.devices {
            args.extend(["--device".into(), d.to_string()]);
        }
        let town = Town {
            run: run.to_owned(),
            down: false,
        };
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = harness(run, &refs)?;
        if !out.status.success() {
            bail!("town.sh up failed ({})", out.status);
        }
        Ok(town)
    }

    pub fn exec(&self, cmd: &[&str]) -> Output {
        let mut args = vec!["exec"];
        args.extend_from_slice(cmd);
        captured(&self.run, &args).expect("running town.sh exec")
    }

    /// stdout of a command inside the container as root, which must succeed.
    pub fn sh(&self, script: &str) -> anyhow::Result<String> {
        let out = self.exec(&["sh", "-c", script]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            bail!(
                "`{script}` failed in the town ({}): {stdout}{stderr}",
                out.status
            );
        }
        Ok(stdout)
    }

    pub fn as_user(&self, user: &str, script: &str) -> Output {
        captured(&self.run, &["as", user, "sh", "-c", script]).expect("running town.sh as")
    }

    pub fn journal(&self, args: &[&str]) -> String {
        let mut a = vec!["journal"];
        a.extend_from_slice(args);
        String::from_utf8_lossy(&harness(&self.run, &a).expect("journal").stdout).into_owned()
    }

    pub fn reboot(&self) -> anyhow::Result<()> {
        let out = harness(&self.run, &["reboot"])?;
        if !out.status.success() {
            bail!("town.sh reboot failed ({})", out.status);
        }
        Ok(())
    }

    pub fn restart_synapse(&self) -> anyhow::Result<()> {
        let out = harness(&self.run, &["restart-synapse"])?;
        if !out.status.success() {
            bail!("town.sh restart-synapse failed ({})", out.status);
        }
        Ok(())
    }

    pub fn mayor(&self) -> anyhow::Result<Credentials> {
        let path = self.run.join("mayor.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    pub fn down(&mut self) -> anyhow::Result<()> {
        self.down = true;
        let out = harness(&self.run, &["down"])?;
        if !out.status.success() {
            bail!("town.sh down failed ({})", out.status);
        }
        Ok(())
    }
}

impl Drop for Town {
    fn drop(&mut self) {
        if !self.down {
            let _ = self.down();
        }
    }
}

/// Whatever a town run left behind (mounts, loop devices, containers, Synapse processes).
pub fn leftovers(run: &Path) -> Vec<String> {
    let out = harness(run, &["leftovers"]).expect("running town.sh leftovers");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// Tear down a run dir whatever state it is in (used after a failed `up`).
pub fn down(run: &Path) -> anyhow::Result<()> {
    let out = harness(run, &["down"])?;
    if !out.status.success() {
        bail!("town.sh down failed ({})", out.status);
    }
    Ok(())
}
