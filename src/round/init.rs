//! `townhall init`: prepare a fresh host. Every step is skipped when already done.

use std::path::{Path, PathBuf};

use super::Subvolumes;
use super::apply::{Seams, build_home, make_home};
use super::files::{Files, Kind, Owner};
use super::plan::{Refusal, home_plan};
use crate::config::Town;
use crate::git::Git;
use crate::resident::{Accounts, plan_accounts};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitRefusal {
    #[error(
        "{path} is not the mount point of a btrfs volume\n  help: mount the btrfs volume's top level there (e.g. `mount -o subvolid=5 DEV {path}`)"
    )]
    NotBtrfs { path: PathBuf },
    #[error(
        "{path} exists but is not a btrfs subvolume\n  help: move it away; townhall creates the subvolume itself"
    )]
    NotSubvolume { path: PathBuf },
    #[error(
        "{path} exists and is not a symlink to {live}\n  help: move it away, or set agents in town.toml to the live subvolume's path"
    )]
    AgentsInTheWay { path: PathBuf, live: PathBuf },
    #[error(transparent)]
    Refused(#[from] Refusal),
}

fn split(p: &Path) -> (&Path, &Path) {
    (
        p.parent().unwrap_or(Path::new("/")),
        Path::new(p.file_name().unwrap_or_default()),
    )
}

const ROOT_DIR: Owner = Owner {
    uid: 0,
    gid: 0,
    mode: 0o755,
};

/// Returns the steps it took (empty when the host was already prepared).
pub fn init<S: Subvolumes, F: Files, A: Accounts, G: Git, P>(
    town: &Town,
    seams: &Seams<S, F, A, G, P>,
) -> Result<Vec<String>, Vec<InitRefusal>> {
    let (sv, files) = (seams.subvolumes, seams.files);
    let live = town.live_path();
    let blank = town.blank_path();
    let os = |e: crate::os::OsError| vec![InitRefusal::from(Refusal::from(e))];

    // Look first.
    let mut refusals = Vec::new();
    if !sv.is_subvolume(&town.btrfs.volume).map_err(os)? {
        refusals.push(InitRefusal::NotBtrfs {
            path: town.btrfs.volume.clone(),
        });
    }
    for p in [&blank, &live] {
        if files.inspect(p).map_err(os)?.is_some() && !sv.is_subvolume(p).map_err(os)? {
            refusals.push(InitRefusal::NotSubvolume { path: p.clone() });
        }
    }
    if sv.is_subvolume(&blank).map_err(os)? && !sv.is_readonly(&blank).map_err(os)? {
        refusals.push(
            Refusal::BlankWritable {
                path: blank.clone(),
            }
            .into(),
        );
    }
    let agents_link = town.agents != live;
    if agents_link && let Some(n) = files.inspect(&town.agents).map_err(os)? {
        let resolves = files.inspect(&live).map_err(os)?.map(|l| l.canonical);
        if n.kind != Kind::Symlink || Some(&n.canonical) != resolves.as_ref() && n.canonical != live
        {
            refusals.push(InitRefusal::AgentsInTheWay {
                path: town.agents.clone(),
                live: live.clone(),
            });
        }
    }
    let create = plan_accounts(town, seams.accounts).unwrap_or_else(|p| {
        refusals.extend(p.into_iter().map(|p| InitRefusal::from(Refusal::from(p))));
        Vec::new()
    });
    if !refusals.is_empty() {
        return Err(refusals);
    }

    // Then act.
    let mut done = Vec::new();
    for a in &create {
        seams.accounts.create(a).map_err(os)?;
        done.push(format!("created user {} (uid {})", a.name, a.uid));
    }
    if !sv.is_subvolume(&blank).map_err(os)? {
        // An empty read-only subvolume: create it writable, then keep a read-only snapshot.
        let staging = town.btrfs.volume.join(format!("{}.new", town.btrfs.blank));
        sv.create(&staging).map_err(os)?;
        sv.snapshot(&staging, &blank, true).map_err(os)?;
        sv.delete_recursive(&staging).map_err(os)?;
        done.push(format!(
            "created the blank subvolume {} (read-only)",
            blank.display()
        ));
    }
    if !sv.is_subvolume(&live).map_err(os)? {
        sv.snapshot(&blank, &live, false).map_err(os)?;
        done.push(format!("created the live subvolume {}", live.display()));
    }
    if agents_link && files.inspect(&town.agents).map_err(os)?.is_none() {
        let (parent, name) = split(&town.agents);
        files.symlink(parent, name, &live, ROOT_DIR).map_err(os)?;
        done.push(format!(
            "linked {} to {}",
            town.agents.display(),
            live.display()
        ));
    }
    let (parent, name) = split(&town.persist);
    if files.make_dir(parent, name, ROOT_DIR).map_err(os)? {
        done.push(format!("created {}", town.persist.display()));
    }
    let (parent, name) = split(&town.state);
    if files
        .make_dir(
            parent,
            name,
            Owner {
                mode: 0o700,
                ..ROOT_DIR
            },
        )
        .map_err(os)?
    {
        done.push(format!("created {} (root only)", town.state.display()));
    }
    for r in &town.residents {
        if files.inspect(&live.join(&r.name)).map_err(os)?.is_none() {
            let h = home_plan(town, r, seams.accounts).map_err(|e| vec![e.into()])?;
            let home = make_home(sv, files, &live, &r.name).map_err(os)?;
            build_home(&home, &h, files, seams.git).map_err(os)?;
            done.push(format!("built the home of {}", r.name));
        }
    }
    Ok(done)
}
