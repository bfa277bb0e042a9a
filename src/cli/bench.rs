//! `townhall bench reset`: townhall's reset (its critical path, then the background
//! deletion of the retired round) against the `btrfs` CLI and `rm -rf`, on the same
//! generated homes, as the number of files per home grows.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use townhall::round::{Btrfs, Subvolumes};

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    pub cold: bool,
    pub residents: usize,
    pub files_per_home: usize,
    /// Snapshot the blank beside the live round, exchange, rename the old one aside.
    pub critical_ms: f64,
    /// Deleting the retired round afterwards (in the background, at idle priority).
    pub background_ms: f64,
    pub btrfs_cli_ms: f64,
    pub rm_rf_ms: f64,
}

/// A duration in milliseconds, to the microsecond.
pub(super) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// M files of 1 KiB under `dir`, 100 to a directory.
pub(super) fn fill_dir(dir: &Path, files: usize) -> anyhow::Result<()> {
    let data = [b'x'; 1024];
    for f in 0..files {
        let sub = dir.join(format!("d{}", f / 100));
        if f % 100 == 0 {
            std::fs::create_dir_all(&sub)?;
        }
        std::fs::write(sub.join(format!("f{f}")), data)?;
    }
    Ok(())
}

/// N homes of M small files each, inside the live subvolume.
fn fill(live: &Path, residents: usize, files: usize) -> anyhow::Result<()> {
    (0..residents).try_for_each(|r| fill_dir(&live.join(format!("home{r}")), files))
}

fn timed(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed())
}

/// Measure in `dir` (on btrfs) for each size in `files`; `progress` hears each step.
/// With `cold`, dentry and inode caches are dropped before each measurement (as after a
/// reboot); otherwise the freshly written homes are still cached (a reset on command).
pub fn reset(
    dir: &Path,
    residents: usize,
    files: &[usize],
    cold: bool,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<Vec<BenchRow>> {
    let sv = Btrfs;
    let blank = dir.join("bench-blank");
    let staging = dir.join("bench-blank.new");
    let live: PathBuf = dir.join("bench-live");
    for p in [&live, &blank, &staging] {
        if sv.is_subvolume(p)? {
            sv.delete_recursive(p)?;
        }
    }
    sv.create(&staging)?;
    sv.snapshot(&staging, &blank, true)?;
    sv.delete_recursive(&staging)?;
    let fresh = |sv: &Btrfs| -> anyhow::Result<()> {
        if sv.is_subvolume(&live)? {
            sv.delete_recursive(&live)?;
        }
        sv.snapshot(&blank, &live, false)?;
        Ok(())
    };
    let sync = || -> anyhow::Result<()> {
        Command::new("sync").status()?;
        if cold {
            std::fs::write("/proc/sys/vm/drop_caches", "2")?;
        }
        Ok(())
    };

    let mut rows = Vec::new();
    for &m in files {
        progress(&format!("{residents} homes × {m} files: filling"));
        fresh(&sv)?;
        fill(&live, residents, m)?;
        sync()?;
        progress("  townhall: critical path (snapshot, exchange, retire)");
        let next = dir.join("bench-live.next");
        let mut retired = PathBuf::new();
        let critical = timed(|| {
            sv.snapshot(&blank, &next, false)?;
            sv.exchange(&live, &next)?;
            retired = townhall::round::retire(&live, &sv, &next)?;
            Ok(())
        })?;
        progress("  townhall: background deletion of the retired round");
        let background = timed(|| Ok(sv.delete_recursive(&retired)?))?;

        fill(&live, residents, m)?;
        sync()?;
        progress("  btrfs CLI");
        let cli = timed(|| {
            run(Command::new("btrfs")
                .args(["-q", "subvolume", "delete"])
                .arg(&live))?;
            run(Command::new("btrfs")
                .args(["-q", "subvolume", "snapshot"])
                .arg(&blank)
                .arg(&live))
        })?;

        fill(&live, residents, m)?;
        sync()?;
        progress("  rm -rf");
        let homes: Vec<PathBuf> = (0..residents)
            .map(|r| live.join(format!("home{r}")))
            .collect();
        let rm = timed(|| run(Command::new("rm").arg("-rf").args(&homes)))?;
        rows.push(BenchRow {
            cold,
            residents,
            files_per_home: m,
            critical_ms: ms(critical),
            background_ms: ms(background),
            btrfs_cli_ms: ms(cli),
            rm_rf_ms: ms(rm),
        });
    }
    sv.delete_recursive(&live)?;
    sv.delete_recursive(&blank)?;
    Ok(rows)
}

/// Milliseconds from a `change` uevent to a user ACL entry on `node`: townhall's grant
/// path (libudev monitor → Keeper → libacl) against a udev rule with RUN+="setfacl",
/// both driven by the same real uevents. Needs root and a running udevd.
pub fn grant(
    node: &Path,
    uid: u32,
    count: usize,
    progress: &mut dyn FnMut(&str),
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    use townhall::grant::{Acls, DeviceEvent, Devices, PosixAcls, Udev};
    let sysname = node
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("bad node"))?
        .to_string();
    let uevent = std::fs::read_dir("/sys/class")?
        .filter_map(|c| c.ok())
        .map(|c| c.path().join(&sysname).join("uevent"))
        .find(|p| p.exists())
        .ok_or_else(|| anyhow::anyhow!("no /sys/class/*/{sysname}/uevent"))?;
    let subsystem = uevent
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let acls = PosixAcls;
    let has = || {
        acls.users(node)
            .map(|u| u.contains_key(&uid))
            .unwrap_or(false)
    };
    let wait_for = |t: Instant| -> anyhow::Result<f64> {
        while !has() {
            anyhow::ensure!(
                t.elapsed() < Duration::from_secs(5),
                "no ACL entry after 5 s"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };

    progress("townhall: libudev monitor → ACL");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut ours = Vec::new();
    rt.block_on(async {
        let mut rx = Udev.watch(std::slice::from_ref(&subsystem), &[])?;
        for _ in 0..count {
            let _ = acls.revoke(node, uid);
            let t = Instant::now();
            std::fs::write(&uevent, "change")?;
            loop {
                match rx.recv().await {
                    Some(DeviceEvent::Change(d)) if d.devnode.as_deref() == Some(node) => break,
                    Some(_) => continue,
                    None => anyhow::bail!("udev monitor closed"),
                }
            }
            acls.grant(node, uid, townhall::config::Permission::Rw)?;
            ours.push(wait_for(t)?);
        }
        anyhow::Ok(())
    })?;

    progress("udev rule: RUN+=\"/usr/bin/setfacl …\"");
    let rule = Path::new("/run/udev/rules.d/99-townhall-bench.rules");
    std::fs::create_dir_all(rule.parent().expect("has a parent"))?;
    std::fs::write(
        rule,
        format!(
            "ACTION==\"change\", KERNEL==\"{sysname}\", RUN+=\"/usr/bin/setfacl -m u:{uid}:rw $env{{DEVNAME}}\"\n"
        ),
    )?;
    run(Command::new("udevadm").args(["control", "--reload"]))?;
    let mut theirs = Vec::new();
    let result = (|| {
        for _ in 0..count {
            let _ = acls.revoke(node, uid);
            let t = Instant::now();
            std::fs::write(&uevent, "change")?;
            theirs.push(wait_for(t)?);
        }
        anyhow::Ok(())
    })();
    let _ = std::fs::remove_file(rule);
    let _ = run(Command::new("udevadm").args(["control", "--reload"]));
    let _ = acls.revoke(node, uid);
    result?;
    Ok((ours, theirs))
}
