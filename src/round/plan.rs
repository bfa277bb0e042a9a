//! What a reset will do, decided before anything is touched. Any refusal means nothing
//! changes: the checks look at the real paths (symlinks resolved), not just the config.

use std::path::{Path, PathBuf};

use super::{Files, Kind, Node, Subvolumes};
use crate::config::{Resident, Town};
use crate::os::OsError;
use crate::resident::{Account, AccountProblem, Accounts, plan_accounts};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the live path {path} is not a btrfs subvolume\n  help: check [btrfs] volume and live in town.toml; `townhall init` creates the subvolumes"
    )]
    LiveNotSubvolume { path: PathBuf },
    #[error(
        "the live path {path} resolves to /, the root filesystem\n  help: point [btrfs] live at the agents subvolume, never at /"
    )]
    LiveIsRoot { path: PathBuf },
    #[error(
        "the live path {path} resolves to {resolved}, not a subvolume directly on the volume {volume}\n  help: remove the symlink; live must be a subvolume directly under the volume"
    )]
    LiveNotOnVolume {
        path: PathBuf,
        resolved: PathBuf,
        volume: PathBuf,
    },
    #[error("the blank subvolume {path} does not exist\n  help: run `townhall init` to create it")]
    BlankMissing { path: PathBuf },
    #[error(
        "the blank subvolume {path} is writable, so it may not be blank any more\n  help: check it is empty, then `btrfs property set -ts {path} ro true`"
    )]
    BlankWritable { path: PathBuf },
    #[error(
        "the persist dir {persist} resolves to {resolved}, inside the live subvolume {live}\n  help: keep persist outside the agents subvolume, or everything in it is deleted"
    )]
    PersistInsideLive {
        persist: PathBuf,
        resolved: PathBuf,
        live: PathBuf,
    },
    #[error(
        "the persist dir {path} is missing or not a directory\n  help: run `townhall init` to create it, or fix persist in town.toml"
    )]
    PersistMissing { path: PathBuf },
    #[error(
        "{path} is not a directory owned by {resident}\n  help: move it away; the reset recreates it"
    )]
    PersistDirWrong { resident: String, path: PathBuf },
    #[error(
        "the agents dir {agents} resolves to {resolved}, not the live subvolume {live}\n  help: make {agents} the live subvolume or a symlink to it (`townhall init` does)"
    )]
    AgentsElsewhere {
        agents: PathBuf,
        resolved: PathBuf,
        live: PathBuf,
    },
    #[error(
        "secret {source_path} of {resident} cannot be read: {detail}\n  help: deploy it (e.g. sops-nix) or remove the [[secret]] from residents/{resident}.toml"
    )]
    SecretMissing {
        resident: String,
        source_path: PathBuf,
        detail: String,
    },
    #[error(
        "there is no resident {name} in this town\n  help: name one of the residents in residents/*.toml, or none to end the round for everyone"
    )]
    UnknownResident { name: String },
    #[error(
        "the home {path} of {resident} is not a subvolume of its own, so it cannot be exchanged alone\n  help: end the round for everyone once (`townhall reset` with no name): it builds every home as a subvolume"
    )]
    HomeNotSubvolume { resident: String, path: PathBuf },
    #[error(transparent)]
    Account(#[from] AccountProblem),
    #[error(transparent)]
    Os(#[from] OsError),
}

/// Something in /persist/NAME where a declared path (or one of its parents) belongs that is
/// not what it must be: a symlink, a fifo, a file for a directory, another owner's entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Misfit {
    /// Relative to /persist/NAME.
    pub path: PathBuf,
    pub found: String,
}

fn describe(n: &Node, uid: u32) -> String {
    match n.kind {
        Kind::Symlink => format!("a symlink to {}", n.canonical.display()),
        Kind::Other => "a fifo, socket or device node".into(),
        _ if n.uid != uid => format!("an entry owned by uid {}", n.uid),
        Kind::Dir => "a directory where a file belongs".into(),
        Kind::File => "a file where a directory belongs".into(),
    }
}

/// Check every declared persisted path and each of its parents with lstat, top down; the
/// first wrong entry on a path is a misfit (what is below it goes with it).
pub fn misfits(
    files: &impl Files,
    persist: &Path,
    uid: u32,
    dirs: &[PathBuf],
    plain: &[PathBuf],
) -> Result<Vec<Misfit>, OsError> {
    let mut out: Vec<Misfit> = Vec::new();
    let declared = dirs
        .iter()
        .map(|d| (d, Kind::Dir))
        .chain(plain.iter().map(|f| (f, Kind::File)));
    'paths: for (rel, last) in declared {
        let n = rel.components().count();
        let mut prefix = PathBuf::new();
        for (i, c) in rel.components().enumerate() {
            prefix.push(c);
            if out.iter().any(|m| prefix.starts_with(&m.path)) {
                continue 'paths;
            }
            let want = if i + 1 == n { last } else { Kind::Dir };
            match files.inspect(&persist.join(&prefix))? {
                None => continue 'paths,
                Some(node) if node.kind == want && node.uid == uid => {}
                Some(node) => {
                    out.push(Misfit {
                        path: prefix.clone(),
                        found: describe(&node, uid),
                    });
                    continue 'paths;
                }
            }
        }
    }
    Ok(out)
}

/// One resident's home as the new round will have it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HomePlan {
    pub name: String,
    pub uid: u32,
    pub persist: PathBuf,
    pub directories: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
    /// (source, target relative to the home, uid, mode)
    pub secrets: Vec<(PathBuf, PathBuf, u32, u32)>,
    pub git: (String, String),
    /// Where turns run; made in the home unless a persisted path provides it.
    pub workspace: PathBuf,
    /// Entries in /persist/NAME the reset moves aside before it builds the home.
    pub misfits: Vec<Misfit>,
    /// What PID 1 holds its user manager to.
    #[serde(skip)]
    pub limits: crate::config::Limits,
    /// The public half of its signing key, when signing is set up (`sign::sign_plan`).
    pub signing_key: Option<String>,
    /// The gate's proxy, for login shells and the user manager, when the town has a gate.
    pub proxy: Option<String>,
    /// A rollback's checkpoint: the new home is a writable snapshot of it, not built.
    pub from: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResetPlan {
    pub live: PathBuf,
    pub blank: PathBuf,
    /// Where the new round is built before it is exchanged with the live subvolume.
    pub next: PathBuf,
    pub create_accounts: Vec<Account>,
    pub homes: Vec<HomePlan>,
    /// Where levelling sweeps each resident's files (`level::shared_dirs`), besides its
    /// runtime dir; filled in by the caller, which may walk the host for them.
    pub shared: Vec<PathBuf>,
    /// The homes' residents end their rounds alone: each home is exchanged on its own and
    /// every other resident is left as it is.
    pub alone: bool,
}

pub fn home_plan(town: &Town, r: &Resident, accounts: &impl Accounts) -> Result<HomePlan, Refusal> {
    let owner_uid = |owner: &str| -> Result<u32, Refusal> {
        if owner == r.name {
            return Ok(r.uid);
        }
        Ok(accounts.by_name(owner)?.map_or(0, |a| a.uid))
    };
    Ok(HomePlan {
        name: r.name.clone(),
        uid: r.uid,
        persist: town.persist_dir(r),
        directories: r.persist.directories.clone(),
        files: r.persist.files.clone(),
        secrets: r
            .secrets
            .iter()
            .map(|s| {
                Ok((
                    s.source.clone(),
                    s.target.clone(),
                    owner_uid(&s.owner)?,
                    s.mode,
                ))
            })
            .collect::<Result<_, Refusal>>()?,
        git: (r.git.name.clone(), r.git.email.clone()),
        workspace: r.agent.workspace.clone(),
        misfits: Vec::new(),
        limits: r.limits.clone(),
        signing_key: None,
        proxy: r.agent.proxy.clone(),
        from: None,
    })
}

/// The new round's subvolume while it is built, beside the live one (same parent, so the
/// two can be exchanged in one rename).
pub fn next_path(town: &Town) -> PathBuf {
    town.btrfs.volume.join(format!("{}.next", town.btrfs.live))
}

/// The checks every destructive step relies on.
pub fn check_volume(town: &Town, subvols: &impl Subvolumes, files: &impl Files) -> Vec<Refusal> {
    let mut refusals = Vec::new();
    let live = town.live_path();
    let blank = town.blank_path();
    let mut push = |r: Result<(), Refusal>| {
        if let Err(e) = r {
            refusals.push(e);
        }
    };
    push((|| {
        let node = files.inspect(&live)?;
        let root = files.inspect(Path::new("/"))?;
        if let (Some(n), Some(root)) = (&node, &root) {
            if n.canonical == Path::new("/") || (n.dev, n.ino) == (root.dev, root.ino) {
                return Err(Refusal::LiveIsRoot { path: live.clone() });
            }
            if n.kind == Kind::Symlink {
                let volume = town.btrfs.volume.clone();
                return Err(Refusal::LiveNotOnVolume {
                    path: live.clone(),
                    resolved: n.canonical.clone(),
                    volume,
                });
            }
        }
        if !subvols.is_subvolume(&live)? {
            return Err(Refusal::LiveNotSubvolume { path: live.clone() });
        }
        Ok(())
    })());
    push((|| {
        if !subvols.is_subvolume(&blank)? {
            return Err(Refusal::BlankMissing {
                path: blank.clone(),
            });
        }
        if !subvols.is_readonly(&blank)? {
            return Err(Refusal::BlankWritable {
                path: blank.clone(),
            });
        }
        Ok(())
    })());
    push((|| {
        let live_real = files.inspect(&live)?.map_or(live.clone(), |n| n.canonical);
        let persist_real = files
            .inspect(&town.persist)?
            .map_or(town.persist.clone(), |n| n.canonical);
        if persist_real.starts_with(&live_real) {
            return Err(Refusal::PersistInsideLive {
                persist: town.persist.clone(),
                resolved: persist_real,
                live,
            });
        }
        if !files
            .inspect(&persist_real)?
            .is_some_and(|n| n.kind == Kind::Dir)
        {
            return Err(Refusal::PersistMissing {
                path: town.persist.clone(),
            });
        }
        if town.agents != town.live_path() {
            let agents_real = files
                .inspect(&town.agents)?
                .map_or(town.agents.clone(), |n| n.canonical);
            if agents_real != live_real {
                return Err(Refusal::AgentsElsewhere {
                    agents: town.agents.clone(),
                    resolved: agents_real,
                    live,
                });
            }
        }
        Ok(())
    })());
    refusals
}

/// Decide the whole reset, or every reason to refuse it.
pub fn plan_reset(
    town: &Town,
    subvols: &impl Subvolumes,
    files: &impl Files,
    accounts: &impl Accounts,
) -> Result<ResetPlan, Vec<Refusal>> {
    plan_for(town, &[], subvols, files, accounts)
}

/// Decide a reset of the residents `only` names alone (none: the whole town), or every
/// reason to refuse it. A resident's home must be a subvolume of its own to end alone.
pub fn plan_for(
    town: &Town,
    only: &[String],
    subvols: &impl Subvolumes,
    files: &impl Files,
    accounts: &impl Accounts,
) -> Result<ResetPlan, Vec<Refusal>> {
    let mut refusals = check_volume(town, subvols, files);
    let alone = !only.is_empty();
    for name in only {
        if town.resident(name).is_none() {
            refusals.push(Refusal::UnknownResident { name: name.clone() });
        }
    }
    let chosen: Vec<_> = town
        .residents
        .iter()
        .filter(|r| !alone || only.contains(&r.name))
        .collect();
    let mut create_accounts = plan_accounts(town, accounts).unwrap_or_else(|problems| {
        refusals.extend(problems.into_iter().map(Refusal::from));
        Vec::new()
    });
    create_accounts.retain(|a| chosen.iter().any(|r| r.name == a.name));
    let mut homes = Vec::new();
    for r in chosen {
        if alone {
            let home = town.live_path().join(&r.name);
            let whole = files
                .inspect(&home)
                .map(|n| n.is_some_and(|n| n.kind == Kind::Dir))
                .and_then(|dir| Ok(dir && subvols.is_subvolume(&home)?));
            match whole {
                Ok(true) => {}
                Ok(false) => refusals.push(Refusal::HomeNotSubvolume {
                    resident: r.name.clone(),
                    path: home,
                }),
                Err(e) => refusals.push(e.into()),
            }
        }
        let mine = town.persist_dir(r);
        match files.inspect(&mine) {
            Ok(Some(n)) if n.kind != Kind::Dir => {
                refusals.push(Refusal::PersistDirWrong {
                    resident: r.name.clone(),
                    path: mine.clone(),
                });
            }
            Ok(_) => {}
            Err(e) => refusals.push(e.into()),
        }
        for s in &r.secrets {
            if let Err(e) = files.read(&s.source) {
                let detail = e.detail;
                refusals.push(Refusal::SecretMissing {
                    resident: r.name.clone(),
                    source_path: s.source.clone(),
                    detail,
                });
            }
        }
        match home_plan(town, r, accounts) {
            Ok(mut h) => match misfits(
                files,
                &mine,
                r.uid,
                &r.persist.directories,
                &r.persist.files,
            ) {
                Ok(m) => {
                    h.misfits = m;
                    homes.push(h);
                }
                Err(e) => refusals.push(e.into()),
            },
            Err(e) => refusals.push(e),
        }
    }
    if !refusals.is_empty() {
        return Err(refusals);
    }
    Ok(ResetPlan {
        live: town.live_path(),
        blank: town.blank_path(),
        next: next_path(town),
        create_accounts,
        homes,
        shared: Vec::new(),
        alone,
    })
}
