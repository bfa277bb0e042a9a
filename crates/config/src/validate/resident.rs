//! One resident's file checked: its name, uid and Matrix identity, credentials out of every
//! resident's reach, its agent, persisted paths, secrets, rooms, limits, budget and git
//! identity, with defaults filled in.

use std::path::PathBuf;

use toml::Spanned;

use super::device::device;
use super::{Checker, inside};
use crate::raw::RawResident;
use crate::values as v;
use crate::*;

pub(super) fn resident(
    town: &Town,
    names: &std::collections::HashSet<String>,
    users: &std::collections::HashSet<String>,
    c: &mut Checker,
    raw: RawResident,
) -> Resident {
    let name = raw.name.get_ref().clone();
    if c.ok(
        &raw.name,
        v::unix_name(&name),
        "use lowercase letters, digits, `_` and `-`, starting with a letter",
    )
    .is_some()
    {
        let expected = format!("{name}.toml");
        if c.src
            .file
            .file_name()
            .is_some_and(|f| f != expected.as_str())
        {
            c.err(
                &raw.name,
                format!(
                    "this file declares `{name}` but is named {}",
                    c.src.file.display()
                ),
                format!("rename the file to residents/{expected} or change the name"),
            );
        }
    }
    let uid = *raw.uid.get_ref();
    if !(1000..=i64::from(u32::MAX - 1)).contains(&uid) || uid == 65534 {
        c.err(
            &raw.uid,
            format!("uid {uid} is outside the range for residents"),
            "pick an unused uid from 1000 up (not 65534, nobody's)",
        );
    }
    if raw.description.get_ref().trim().is_empty() {
        c.err(
            &raw.description,
            "the description is empty",
            "say in a few words what this resident does",
        );
    }

    // Credentials must survive resets and stay out of every resident's reach.
    let secret_path = |c: &mut Checker, p: &Spanned<PathBuf>, what: &str| -> PathBuf {
        let Some(abs) = c.ok(
            p,
            v::absolute(p.get_ref()),
            "write an absolute path, e.g. /run/secrets/…",
        ) else {
            return PathBuf::new();
        };
        for dir in [&town.agents, &town.live_path(), &town.persist] {
            if inside(&abs, dir) {
                c.err(
                    p,
                    format!(
                        "the {what} {} is inside {}, where residents can reach it",
                        abs.display(),
                        dir.display()
                    ),
                    "keep it outside the agents and persist dirs, e.g. under /run/secrets",
                );
                break;
            }
        }
        abs
    };
    let password_file = secret_path(c, &raw.matrix.password_file, "credential file");
    let recovery_file = raw
        .matrix
        .recovery_file
        .as_ref()
        .map(|p| secret_path(c, p, "recovery file"));
    let allow = raw
        .matrix
        .allow
        .iter()
        .filter_map(|a| {
            c.ok(
                a,
                v::matrix_user(a.get_ref()).map(|_| a.get_ref().clone()),
                "write it as @user:server",
            )
        })
        .collect();
    let approve_by = raw
        .matrix
        .approve_by
        .as_ref()
        .map(|by| approvers(c, users, by));
    let user = raw.matrix.user.get_ref().clone();
    c.ok(
        &raw.matrix.user,
        v::matrix_user(&user),
        "write it as @user:server",
    );

    let agent = crate::agent::agent(c, raw.agent, &town.gate);
    let mut persist = persisted(c, &raw.persist);
    // The kind's state directory persists unless a persisted path already covers it.
    if let Some(dir) = agent
        .kind
        .state_dir()
        .filter(|_| agent.defaults)
        .map(PathBuf::from)
        && !persist
            .paths()
            .any(|k| k.starts_with(&dir) || dir.starts_with(k))
    {
        persist.directories.push(dir);
    }
    let secrets = raw
        .secrets
        .iter()
        .map(|s| {
            let target = c
                .ok(
                    &s.target,
                    v::home_relative(s.target.get_ref()),
                    "write a path relative to the home, e.g. .ssh/id_ed25519",
                )
                .unwrap_or_default();
            let mode = match &s.mode {
                Some(m) => c
                    .ok(
                        m,
                        v::file_mode(m.get_ref()),
                        "write an octal mode such as \"0400\"",
                    )
                    .unwrap_or(0o400),
                None => 0o400,
            };
            if let Some(k) = persist
                .paths()
                .find(|k| target.starts_with(k) && !target.as_os_str().is_empty())
            {
                let msg = format!(
                    "the secret target `{}` is inside the persisted `{}`",
                    target.display(),
                    k.display()
                );
                c.err(
                    &s.target,
                    msg,
                    "deploy secrets outside persisted paths: they are written fresh every round",
                );
            }
            let owner = match &s.owner {
                Some(o) if o.get_ref() != &name && o.get_ref() != "root" => {
                    c.err(
                        o,
                        format!("a secret of {name} cannot belong to `{}`", o.get_ref()),
                        format!("use \"{name}\" or \"root\""),
                    );
                    name.clone()
                }
                Some(o) => o.get_ref().clone(),
                None => name.clone(),
            };
            Secret {
                source: secret_path(c, &s.source, "secret source"),
                target,
                mode,
                owner,
            }
        })
        .collect();
    let devices = raw.devices.iter().filter_map(|d| device(c, d)).collect();
    let rooms = raw
        .rooms
        .iter()
        .filter_map(|r| {
            c.ok(
                r,
                v::room_ref(r.get_ref()).map(|_| r.get_ref().clone()),
                "write a room ID (!id:server) or alias (#name:server)",
            )
        })
        .collect();
    let l = &raw.limits;
    let limits = Limits {
        memory_bytes: l.memory.as_ref().and_then(|m| {
            c.ok(
                m,
                v::memory(m.get_ref()),
                "write a size such as \"4G\" or \"512M\"",
            )
        }),
        cpu_percent: l.cpu.as_ref().and_then(|m| {
            c.ok(
                m,
                v::cpu_percent(m.get_ref()),
                "write a percentage of one CPU, e.g. \"150%\"",
            )
        }),
        tasks: l.tasks.as_ref().and_then(|t| {
            let ok = u64::try_from(*t.get_ref())
                .ok()
                .filter(|&n| n > 0)
                .ok_or(format!("{} is not a task count", t.get_ref()));
            c.ok(t, ok, "write a positive number of tasks, e.g. 512")
        }),
        turn_timeout: l
            .turn_timeout
            .as_ref()
            .and_then(|t| {
                c.ok(
                    t,
                    v::duration(t.get_ref()),
                    "write a duration such as \"30m\" or \"2h\"",
                )
            })
            .unwrap_or(DEFAULT_TURN_TIMEOUT),
    };
    let budget = crate::agent::budget(c, &raw.budget);
    let files = crate::Files {
        max_bytes: raw
            .files
            .max_size
            .as_ref()
            .and_then(|m| c.ok(m, v::memory(m.get_ref()), "write a size such as \"20M\""))
            .unwrap_or(crate::Files::default().max_bytes),
    };
    let g = &raw.git;
    if g.name.get_ref().trim().is_empty() {
        c.err(
            &g.name,
            "the git name is empty",
            "write the name commits are made under, e.g. \"Ada\"",
        );
    }
    let email = g.email.get_ref();
    if !email.contains('@') || email.contains(char::is_whitespace) {
        c.err(
            &g.email,
            format!("`{email}` is not an email address"),
            "write the address commits are made under, e.g. ada@town.example",
        );
    }

    Resident {
        name,
        uid: u32::try_from(uid).unwrap_or_default(),
        description: raw.description.get_ref().clone(),
        matrix: ResidentMatrix {
            user,
            password_file,
            recovery_file,
            allow,
            approve_by,
        },
        agent,
        persist,
        secrets,
        devices,
        rooms,
        limits,
        budget,
        files,
        git: GitIdentity {
            name: g.name.get_ref().clone(),
            email: email.clone(),
        },
        network: crate::network::network(c, &raw.network),
        schedules: crate::schedule::schedules(c, &raw.schedules),
        events: crate::events::events(c, raw.name.get_ref(), names, &raw.events),
    }
}

/// Persisted paths: inside the home, and none inside another (they are linked one by one).
fn persisted(c: &mut Checker, raw: &crate::raw::RawPersist) -> Persist {
    let mut out = Persist::default();
    let mut kept: Vec<(PathBuf, String)> = Vec::new();
    let all = raw
        .directories
        .iter()
        .map(|p| (p, true))
        .chain(raw.files.iter().map(|p| (p, false)));
    for (p, is_dir) in all {
        let Some(rel) = c.ok(
            p,
            v::home_relative(p.get_ref()),
            "write a path relative to the home, e.g. work or .bash_history",
        ) else {
            continue;
        };
        if let Some((other, at)) = kept
            .iter()
            .find(|(k, _)| rel.starts_with(k) || k.starts_with(&rel))
        {
            let (msg, help) = if *other == rel {
                (
                    format!("`{}` is persisted twice", rel.display()),
                    format!("remove one; the other is at {at}"),
                )
            } else {
                let msg = format!("`{}` and `{}` overlap", rel.display(), other.display());
                (
                    msg,
                    format!("keep only the outer path; the other is at {at}"),
                )
            };
            c.err(p, msg, help);
            continue;
        }
        kept.push((rel.clone(), c.location(p)));
        if is_dir {
            out.directories.push(rel)
        } else {
            out.files.push(rel)
        }
    }
    out
}

/// `[matrix] approve_by`: people, never a resident (one resident must not approve what
/// another runs), and at least one (else every approval would wait for nobody).
fn approvers(
    c: &mut Checker,
    users: &std::collections::HashSet<String>,
    by: &Spanned<Vec<Spanned<String>>>,
) -> Vec<String> {
    if by.get_ref().is_empty() {
        c.err(
            by,
            "approve_by is empty: no one could answer this resident's approvals",
            "name who approves, e.g. approve_by = [\"@you:example.org\"], or remove it to leave them to the mayors",
        );
    }
    let mut out = Vec::new();
    for a in by.get_ref() {
        let id = a.get_ref();
        if c.ok(a, v::matrix_user(id), "write it as @user:server")
            .is_none()
        {
            continue;
        }
        if users.contains(id) {
            c.err(
                a,
                format!("{id} is a resident of this town"),
                "name the people who approve this resident's tool calls, never a resident",
            );
            continue;
        }
        out.push(id.clone());
    }
    out
}
