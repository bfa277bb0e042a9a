//! Carrying out a reset plan, building homes, and recording the round.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::Subvolumes;
use super::files::{Files, Owner};
use super::plan::{HomePlan, ResetPlan};
use crate::git::Git;
use crate::level::Presence;
use crate::os::OsError;
use crate::resident::Accounts;

/// The seams a round acts through.
pub struct Seams<'a, S, F, A, G, P> {
    pub subvolumes: &'a S,
    pub files: &'a F,
    pub accounts: &'a A,
    pub git: &'a G,
    pub presence: &'a P,
}

/// A persisted entry that was moved aside, and where to find it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quarantined {
    pub resident: String,
    pub path: PathBuf,
    pub found: String,
    pub moved_to: PathBuf,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ResetReport {
    pub round: u64,
    pub by: String,
    pub started: String,
    pub duration_ms: u64,
    /// Of it, the btrfs steps a round waits on: snapshot the blank, exchange, retire the
    /// old round (the critical path `townhall bench reset` times), in microseconds.
    #[serde(default)]
    pub critical_us: u64,
    pub created_accounts: Vec<String>,
    /// resident → the persisted paths linked back into its home.
    pub survived: BTreeMap<String, Vec<PathBuf>>,
    /// resident → what levelling ended and what it could not.
    #[serde(default)]
    pub levelled: BTreeMap<String, crate::level::LevelReport>,
    #[serde(default)]
    pub quarantined: Vec<Quarantined>,
    /// resident → why its home could not be built (it stays root-only; the others are built).
    #[serde(default)]
    pub degraded: BTreeMap<String, String>,
    /// For a reset of some residents alone: each one's new round (`round` is the town's,
    /// which it leaves as it was).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rounds: BTreeMap<String, u64>,
    /// The residents whose round it ended (the audit log's `--resident` reads it).
    #[serde(default)]
    pub residents: Vec<String>,
}

/// The steps of a reset, in order; the name of each is what `TOWNHALL_RESET_PAUSE` takes.
pub const STEPS: [&str; 6] = [
    "levelled",
    "quarantined",
    "snapshotted",
    "built",
    "exchanged",
    "retired",
];

/// Test hook: with TOWNHALL_RESET_PAUSE=STEP the reset stops after that step and waits to be
/// killed, so the town tests can prove a kill at any step leaves a consistent town.
pub(super) fn pause(step: &str, progress: &mut dyn FnMut(&str)) {
    if std::env::var("TOWNHALL_RESET_PAUSE").is_ok_and(|p| p == step) {
        progress(&format!("paused after {step} (TOWNHALL_RESET_PAUSE)"));
        std::thread::sleep(Duration::from_secs(3600));
    }
}

const HOME_MODE: u32 = 0o700;

fn owner(uid: u32, mode: u32) -> Owner {
    Owner {
        uid,
        gid: uid,
        mode,
    }
}

/// Make the subvolume a home is built in, `parent/name`, root's alone until it is built.
pub fn make_home<S: Subvolumes, F: Files>(
    subvolumes: &S,
    files: &F,
    parent: &Path,
    name: &str,
) -> Result<PathBuf, OsError> {
    let at = parent.join(name);
    subvolumes.create(&at)?;
    files.set_owner(parent, Path::new(name), owner(0, HOME_MODE))?;
    Ok(at)
}

/// Build one home in `home` (a subvolume `make_home` made). The home stays root-only
/// until the last step, so its resident cannot race the supervisor while it is built.
pub fn build_home<F: Files, G: Git>(
    home: &Path,
    h: &HomePlan,
    files: &F,
    git: &G,
) -> Result<Vec<PathBuf>, OsError> {
    let (top, home_rel) = (
        home.parent().unwrap_or(Path::new("/")),
        Path::new(home.file_name().unwrap_or_default()),
    );
    let home = home.to_path_buf();
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
        files.make_file(
            &home,
            target,
            &data,
            Owner {
                uid: *uid,
                gid: h.uid,
                mode: *mode,
            },
        )?;
    }
    if !kept.iter().any(|k| h.workspace.starts_with(k)) {
        files.make_dir(&home, &h.workspace, mine)?;
    }
    let gitconfig = git.identity(&h.git.0, &h.git.1, h.signing_key.as_deref())?;
    files.make_file(
        &home,
        Path::new(".gitconfig"),
        &gitconfig,
        owner(h.uid, 0o644),
    )?;
    // For the user manager (every turn and unit) and for login shells: SSH_AUTH_SOCK where
    // git signs, the gate's proxy where the kernel closes every other way out.
    let mut vars = Vec::new();
    if h.signing_key.is_some() {
        let sock = crate::sign::agent_socket(&h.name);
        vars.push(("SSH_AUTH_SOCK".to_string(), sock.display().to_string()));
    }
    if let Some(proxy) = &h.proxy {
        vars.extend(crate::config::proxy_environment(proxy));
    }
    if !vars.is_empty() {
        files.make_dir(&home, Path::new(".config/environment.d"), mine)?;
        let env: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        files.make_file(
            &home,
            Path::new(".config/environment.d/50-townhall.conf"),
            env.as_bytes(),
            owner(h.uid, 0o644),
        )?;
        let exports: String = vars
            .iter()
            .map(|(k, v)| format!("export {k}={v}\n"))
            .collect();
        let profile = format!(
            "# townhall: git signs through the supervisor's agent; tools go out through the gate\n{exports}"
        );
        files.make_file(
            &home,
            Path::new(".profile"),
            profile.as_bytes(),
            owner(h.uid, 0o644),
        )?;
    }
    files.set_owner(top, home_rel, mine)?;
    Ok(kept)
}

/// The accounts made, every home's resident levelled and its misfits moved aside: what
/// ends a round, for the whole town or for some residents alone. `round` names each
/// resident's next round (its quarantine is named after it).
fn end_presence<S: Subvolumes, F: Files, A: Accounts, G: Git, P: Presence>(
    plan: &ResetPlan,
    seams: &Seams<S, F, A, G, P>,
    round: &dyn Fn(&str) -> u64,
    report: &mut ResetReport,
    progress: &mut dyn FnMut(&str),
) -> Result<(), OsError> {
    for a in &plan.create_accounts {
        progress(&format!("creating user {} (uid {})", a.name, a.uid));
        seams.accounts.create(a)?;
    }
    for h in &plan.homes {
        progress(&format!(
            "levelling {}: sessions, processes, IPC, keyrings, files in /tmp and the like",
            h.name
        ));
        report.levelled.insert(
            h.name.clone(),
            crate::level::level(seams.presence, h.uid, &plan.shared),
        );
    }
    pause("levelled", progress);
    for h in &plan.homes {
        // Looked at again now that nothing of the resident runs: the plan's view may be stale.
        let found = super::plan::misfits(seams.files, &h.persist, h.uid, &h.directories, &h.files)?;
        if found.is_empty() {
            continue;
        }
        for m in &found {
            progress(&format!(
                "moving /persist/{}/{} aside: it is {}",
                h.name,
                m.path.display(),
                m.found
            ));
        }
        let into = format!(".quarantine-round-{}", round(&h.name));
        let rels: Vec<PathBuf> = found.iter().map(|m| m.path.clone()).collect();
        match seams
            .files
            .move_aside(&h.persist, &rels, &into, owner(h.uid, HOME_MODE))
        {
            Ok(moved) => {
                for (m, to) in found.iter().zip(moved) {
                    report.quarantined.push(Quarantined {
                        resident: h.name.clone(),
                        path: m.path.clone(),
                        found: m.found.clone(),
                        moved_to: to,
                    });
                }
            }
            Err(e) => {
                report.degraded.insert(h.name.clone(), e.to_string());
            }
        }
    }
    pause("quarantined", progress);
    Ok(())
}

/// The managers start again only after the exchange; they start confined.
fn confine<P: Presence>(plan: &ResetPlan, presence: &P) {
    let limits: Vec<_> = plan
        .homes
        .iter()
        .map(|h| (h.uid, h.limits.clone()))
        .collect();
    if let Err(e) = presence.confine(&limits) {
        tracing::error!("{e}");
    }
}

/// End the old round and build the new one. The new round is built beside the live one
/// and exchanged with it in one rename, so a reset killed at any step leaves either the old
/// round or the new one in place (`recover` tidies up). One home failing never stops the
/// others. Call only with a plan from `plan_reset`, which checked what this relies on.
pub fn apply_reset<S: Subvolumes, F: Files, A: Accounts, G: Git, P: Presence>(
    plan: &ResetPlan,
    seams: &Seams<S, F, A, G, P>,
    round: u64,
    progress: &mut dyn FnMut(&str),
) -> Result<(ResetReport, Duration), OsError> {
    let start = Instant::now();
    let mut report = ResetReport {
        round,
        ..ResetReport::default()
    };
    end_presence(plan, seams, &|_| round, &mut report, progress)?;
    if seams.subvolumes.is_subvolume(&plan.next)? {
        seams.subvolumes.delete_recursive(&plan.next)?;
    }
    progress(&format!(
        "snapshotting {} to {}",
        plan.blank.display(),
        plan.next.display()
    ));
    let t = Instant::now();
    seams.subvolumes.snapshot(&plan.blank, &plan.next, false)?;
    let mut critical = t.elapsed();
    pause("snapshotted", progress);
    for h in &plan.homes {
        if report.degraded.contains_key(&h.name) {
            continue;
        }
        progress(&format!("building the home of {}", h.name));
        // Each home a subvolume of its own, so that its resident's round can end alone.
        let built = make_home(seams.subvolumes, seams.files, &plan.next, &h.name)
            .and_then(|home| build_home(&home, h, seams.files, seams.git));
        match built {
            Ok(kept) => {
                report.survived.insert(h.name.clone(), kept);
            }
            Err(e) => {
                tracing::error!(resident = %h.name, "home not built: {e}");
                report.degraded.insert(h.name.clone(), e.to_string());
            }
        }
    }
    confine(plan, seams.presence);
    let marker = format!("{round}\n");
    seams.files.make_file(
        &plan.next,
        Path::new(ROUND_MARKER),
        marker.as_bytes(),
        Owner {
            uid: 0,
            gid: 0,
            mode: 0o644,
        },
    )?;
    pause("built", progress);
    progress(&format!(
        "exchanging {} with {}",
        plan.next.display(),
        plan.live.display()
    ));
    let t = Instant::now();
    seams.subvolumes.exchange(&plan.live, &plan.next)?;
    pause("exchanged", progress);
    // Renamed aside, not deleted: deleting takes as long as the residents' trees are big.
    // Sealed first: from now on no resident reaches any of it by path.
    let old = super::retire::retire(&plan.live, seams.subvolumes, &plan.next)?;
    critical += t.elapsed();
    report.critical_us = critical.as_micros() as u64;
    progress(&format!(
        "the old round is retired to {}: it is deleted in the background",
        old.display()
    ));
    pause("retired", progress);
    Ok((report, start.elapsed()))
}

/// End the round of the plan's residents alone: each home exchanged on its own, every
/// other resident's left running. `rounds` is each one's next round. A home that fails
/// is reported degraded and keeps the others going.
pub fn apply_alone<S: Subvolumes, F: Files, A: Accounts, G: Git, P: Presence>(
    plan: &ResetPlan,
    seams: &Seams<S, F, A, G, P>,
    state: &Path,
    rounds: &BTreeMap<String, u64>,
    progress: &mut dyn FnMut(&str),
) -> Result<(ResetReport, Duration), OsError> {
    let start = Instant::now();
    let mut report = ResetReport::default();
    let round = |name: &str| rounds.get(name).copied().unwrap_or(0);
    end_presence(plan, seams, &round, &mut report, progress)?;
    confine(plan, seams.presence);
    let mut critical = Duration::ZERO;
    for h in &plan.homes {
        if report.degraded.contains_key(&h.name) {
            continue;
        }
        let next = round(&h.name);
        match super::home::exchange_home(plan, h, seams, state, next, progress) {
            Ok(done) => {
                critical += done.critical;
                report.survived.insert(h.name.clone(), done.kept);
                report.rounds.insert(h.name.clone(), next);
            }
            Err(e) => {
                tracing::error!(resident = %h.name, "home not reset: {e}");
                report.degraded.insert(h.name.clone(), e.to_string());
            }
        }
    }
    report.critical_us = critical.as_micros() as u64;
    Ok((report, start.elapsed()))
}

/// The file at the top of a round's subvolume that says which round it is (root's).
pub const ROUND_MARKER: &str = ".townhall-round";

/// Carry out a checked plan and record the new round (who asked, how long, what survived,
/// what was levelled, quarantined or could not be built).
pub fn run_reset<S: Subvolumes, F: Files, A: Accounts, G: Git, P: Presence>(
    plan: &ResetPlan,
    seams: &Seams<S, F, A, G, P>,
    state: &Path,
    by: &str,
    progress: &mut dyn FnMut(&str),
) -> Result<ResetReport, OsError> {
    let dir = state;
    let state = super::RoundState::new(dir);
    let started = now_rfc3339();
    let (mut report, took) = if plan.alone {
        let mut rounds = BTreeMap::new();
        for h in &plan.homes {
            let now = state.round_of(&h.name).map_err(OsError::from)?;
            // A rollback goes back within the round; a reset begins the next.
            let next = if h.from.is_some() { now } else { now + 1 };
            rounds.insert(h.name.clone(), next);
        }
        let (mut report, took) = apply_alone(plan, seams, dir, &rounds, progress)?;
        report.round = state.round().map_err(OsError::from)?;
        (report, took)
    } else {
        let next = state.round().map_err(OsError::from)? + 1;
        apply_reset(plan, seams, next, progress)?
    };
    report.by = by.to_string();
    report.residents = plan.homes.iter().map(|h| h.name.clone()).collect();
    report.started = started;
    report.duration_ms = took.as_millis() as u64;
    report.created_accounts = plan
        .create_accounts
        .iter()
        .map(|a| a.name.clone())
        .collect();
    if plan.alone {
        state.record_alone(&report)?;
        tracing::info!(rounds = ?report.rounds, by = %report.by, ms = report.duration_ms, "residents reset alone");
    } else {
        state.record(&report)?;
        tracing::info!(round = report.round, by = %report.by, ms = report.duration_ms, "round reset");
    }
    for w in report.warnings() {
        tracing::warn!("reset: {w}");
    }
    Ok(report)
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
