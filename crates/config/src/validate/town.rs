//! The town's own file checked: its name, its directories (none inside what every reset
//! levels), its btrfs subvolumes, its homeserver and its mayors.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::{Checker, inside};
use crate::diagnostic::{Report, Source};
use crate::raw::{AccountsMode, RawTown};
use crate::values as v;
use crate::*;

pub fn town(dir: &Path, src: &Source, raw: RawTown, report: &mut Report) -> Town {
    let mut c = Checker { src, report };
    let name = raw.name.get_ref();
    if name.is_empty()
        || !name
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
    {
        c.err(
            &raw.name,
            format!("`{name}` is not a valid town name"),
            "use lowercase letters, digits and `-`",
        );
    }
    let mut path = |p: &Option<Spanned<PathBuf>>, default: &str| match p {
        Some(p) => c
            .ok(
                p,
                v::absolute(p.get_ref()),
                &format!("write an absolute path such as {default}"),
            )
            .unwrap_or_default(),
        None => PathBuf::from(default),
    };
    let agents = path(&raw.agents, "/agents");
    let persist = path(&raw.persist, "/persist");
    let state = path(&raw.state, "/var/lib/townhall");
    let volume = c
        .ok(
            &raw.btrfs.volume,
            v::absolute(raw.btrfs.volume.get_ref()),
            "write the mount point of the btrfs volume, e.g. /town",
        )
        .unwrap_or_default();
    let mut subvol = |s: &Option<Spanned<String>>, default: &str| match s {
        Some(s) => {
            let n = s.get_ref();
            let ok = !n.is_empty() && !n.contains('/') && n != "." && n != "..";
            if !ok {
                c.err(
                    s,
                    format!("`{n}` is not a subvolume name"),
                    format!("use one name directly under the volume, e.g. {default}"),
                );
            }
            n.clone()
        }
        None => default.to_string(),
    };
    let live = subvol(&raw.btrfs.live, "@agents");
    let blank = subvol(&raw.btrfs.blank, "@agents-blank");
    if live == blank {
        let at = raw.btrfs.blank.as_ref().or(raw.btrfs.live.as_ref());
        if let Some(at) = at {
            c.err(
                at,
                format!("the blank and live subvolumes are both `{live}`"),
                "give the blank its own name, e.g. @agents-blank",
            );
        }
    }

    let mut checkpoints = 10;
    if let Some(n) = &raw.btrfs.checkpoints {
        match u32::try_from(*n.get_ref()) {
            Ok(k) if (1..=100).contains(&k) => checkpoints = k,
            _ => c.err(
                n,
                format!(
                    "{} checkpoints per resident is not a cap townhall keeps",
                    n.get_ref()
                ),
                "write a number from 1 to 100",
            ),
        }
    }

    // Every reset levels the agents dir and the live subvolume: nothing kept may live there.
    let live_path = if volume.as_os_str().is_empty() {
        PathBuf::new()
    } else {
        volume.join(&live)
    };
    let doomed = [&agents, &live_path];
    for (p, at, what) in [
        (&persist, &raw.persist, "persist"),
        (&state, &raw.state, "state"),
    ] {
        if let Some(d) = doomed.iter().find(|d| inside(p, d)) {
            let at = at
                .as_ref()
                .or(raw.agents.as_ref())
                .map(|s| s.span())
                .unwrap_or(0..0);
            let msg = format!(
                "the {what} dir {} is inside {}, which every reset levels",
                p.display(),
                d.display()
            );
            c.report.push(
                c.src
                    .diag(at, msg, format!("move it outside {}", d.display())),
            );
        }
    }

    let homeserver = raw.matrix.homeserver.get_ref().clone();
    let hs_ok = url::Url::parse(&homeserver)
        .ok()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !hs_ok {
        c.err(
            &raw.matrix.homeserver,
            format!("`{homeserver}` is not an http(s) URL"),
            "write the homeserver's client URL, e.g. https://matrix.example.org",
        );
    }
    let mut mayors = Vec::new();
    if raw.matrix.mayors.get_ref().is_empty() {
        c.err(&raw.matrix.mayors, "no mayor is declared", "add your Matrix ID, e.g. mayors = [\"@you:example.org\"]: only mayors can command residents");
    }
    let mut seen = HashMap::new();
    for m in raw.matrix.mayors.get_ref() {
        if c.ok(m, v::matrix_user(m.get_ref()), "write it as @user:server")
            .is_none()
        {
            continue;
        }
        if let Some(first) = seen.insert(m.get_ref().clone(), c.location(m)) {
            c.err(
                m,
                format!("mayor `{}` is listed twice", m.get_ref()),
                format!("remove this one; it is already at {first}"),
            );
        }
        mayors.push(m.get_ref().clone());
    }

    // A key inside what residents can reach would be theirs to read.
    let reachable = [&agents, &live_path, &persist];
    let gate = crate::gate::gate(&mut c, raw.gate.unwrap_or_default(), &reachable);
    Town {
        name: name.clone(),
        dir: dir.to_owned(),
        agents,
        persist,
        state,
        accounts: raw
            .accounts
            .map(|a| *a.get_ref())
            .unwrap_or(AccountsMode::Create),
        btrfs: Btrfs {
            volume,
            live,
            blank,
            checkpoints,
        },
        matrix: TownMatrix { homeserver, mayors },
        residents: Vec::new(),
        repos: Vec::new(),
        push: PushLimits::default(),
        gate,
    }
}
