//! Carrying out a reset plan, building homes, and recording the round.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::files::{Files, Owner};
use super::plan::{HomePlan, ResetPlan};
use super::Subvolumes;
use crate::git::Git;
use crate::os::OsError;
use crate::resident::Accounts;

/// The seams a round acts through.
pub struct Seams<'a, S, F, A, G> {
    pub subvolumes: &'a S,
    pub files: &'a F,
    pub accounts: &'a A,
    pub git: &'a G,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ResetReport {
    pub round: u64,
    pub by: String,
    pub started: String,
    pub duration_ms: u64,
    pub created_accounts: Vec<String>,
    /// resident → the persisted paths linked back into its home.
    pub survived: BTreeMap<String, Vec<PathBuf>>,
}

const HOME_MODE: u32 = 0o700;

fn owner(uid: u32, mode: u32) -> Owner {
    Owner { uid, gid: uid, mode }
}

/// Build one home inside `live` (a fresh snapshot of the blank). The home stays root-only
/// until the last step, so its resident cannot race the supervisor while it is built.
pub fn build_home<F: Files, G: Git>(live: &Path, h: &HomePlan, files: &F, git: &G) -> Result<Vec<PathBuf>, OsError> {
    let home_rel = Path::new(&h.name);
    let home = live.join(home_rel);
    files.make_dir(live, home_rel, Owner { uid: 0, gid: 0, mode: HOME_MODE })?;
    let base = h.persist.parent().unwrap_or(Path::new("/"));
    let persist_rel = Path::new(h.persist.file_name().unwrap_or_default());
    files.make_dir(base, persist_rel, owner(h.uid, HOME_MODE))?;

    let mine = owner(h.uid, HOME_MODE);
    let parents = |rel: &Path| -> Result<(), OsError> {
        if let Some(p) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            files.make_dir(&home, p, mine)?;
            files.make_dir(&h.persist, p, mine)?;
        }
        Ok(())
    };
    let mut kept = Vec::new();
    for d in &h.directories {
        parents(d)?;
        files.make_dir(&h.persist, d, mine)?;
        files.symlink(&home, d, &h.persist.join(d), mine)?;
        kept.push(d.clone());
    }
    for f in &h.files {
        parents(f)?;
        files.make_file(&h.persist, f, b"", owner(h.uid, 0o600))?;
        files.symlink(&home, f, &h.persist.join(f), mine)?;
        kept.push(f.clone());
    }
    for (source, target, uid, mode) in &h.secrets {
        let data = files.read(source)?;
        if let Some(p) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            files.make_dir(&home, p, mine)?;
        }
        files.make_file(&home, target, &data, Owner { uid: *uid, gid: h.uid, mode: *mode })?;
    }
    if !kept.iter().any(|k| h.workspace.starts_with(k)) {
        files.make_dir(&home, &h.workspace, mine)?;
    }
    let gitconfig = git.identity(&h.git.0, &h.git.1)?;
    files.make_file(&home, Path::new(".gitconfig"), &gitconfig, owner(h.uid, 0o644))?;
    files.set_owner(live, home_rel, mine)?;
    Ok(kept)
}

/// Level the live subvolume to the blank and rebuild every home. Call only with a plan
/// from `plan_reset`, which checked everything this relies on.
pub fn apply_reset<S: Subvolumes, F: Files, A: Accounts, G: Git>(
    plan: &ResetPlan,
    seams: &Seams<S, F, A, G>,
    progress: &mut dyn FnMut(&str),
) -> Result<(BTreeMap<String, Vec<PathBuf>>, Duration), OsError> {
    let start = Instant::now();
    for a in &plan.create_accounts {
        progress(&format!("creating user {} (uid {})", a.name, a.uid));
        seams.accounts.create(a)?;
    }
    progress(&format!("deleting {} with every subvolume inside it", plan.live.display()));
    seams.subvolumes.delete_recursive(&plan.live)?;
    progress(&format!("snapshotting {} to {}", plan.blank.display(), plan.live.display()));
    seams.subvolumes.snapshot(&plan.blank, &plan.live, false)?;
    let mut survived = BTreeMap::new();
    for h in &plan.homes {
        progress(&format!("building the home of {}", h.name));
        survived.insert(h.name.clone(), build_home(&plan.live, h, seams.files, seams.git)?);
    }
    Ok((survived, start.elapsed()))
}

/// Carry out a checked plan and record the new round (who asked, how long, what survived).
pub fn run_reset<S: Subvolumes, F: Files, A: Accounts, G: Git>(
    plan: &ResetPlan,
    seams: &Seams<S, F, A, G>,
    state: &Path,
    by: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<ResetReport, OsError> {
    let state = RoundState::new(state);
    let started = now_rfc3339();
    let (survived, took) = apply_reset(plan, seams, progress)?;
    let report = ResetReport {
        round: state.round() + 1,
        by: by.to_string(),
        started,
        duration_ms: took.as_millis() as u64,
        created_accounts: plan.create_accounts.iter().map(|a| a.name.clone()).collect(),
        survived,
    };
    state.record(&report)?;
    tracing::info!(round = report.round, by = %report.by, ms = report.duration_ms, "round reset");
    Ok(report)
}

/// The round counter and the audit log, in the supervisor's root-only state dir.
pub struct RoundState {
    dir: PathBuf,
}

impl RoundState {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned() }
    }

    pub fn round(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("round")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    /// Write the new round number and append the report to audit.log (one JSON object a line).
    pub fn record(&self, report: &ResetReport) -> Result<(), OsError> {
        crate::os::write_atomic(&self.dir.join("round"), format!("{}\n", report.round).as_bytes())?;
        crate::audit::append(&self.dir, "reset", report)
    }
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
