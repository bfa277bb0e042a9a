//! From what was written to what townhall runs: every value checked, defaults filled in,
//! and the checks that need more than one value (uniqueness, paths that must not nest).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::diagnostic::{Report, Source};
use super::raw::{AccountsMode, RawResident, RawTown};
use super::values as v;
use super::*;

/// Reports problems with one file's values.
pub(super) struct Checker<'a> {
    pub(super) src: &'a Source,
    pub(super) report: &'a mut Report,
}

impl Checker<'_> {
    pub(super) fn err<T>(
        &mut self,
        at: &Spanned<T>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.report.push(self.src.diag(at.span(), message, help));
    }

    /// Keep the value when `check` accepts it; otherwise report and return None.
    pub(super) fn ok<T, U>(
        &mut self,
        at: &Spanned<T>,
        check: Result<U, impl std::fmt::Display>,
        help: &str,
    ) -> Option<U> {
        check.map_err(|m| self.err(at, m.to_string(), help)).ok()
    }

    pub(super) fn location<T>(&self, at: &Spanned<T>) -> String {
        let (line, col) = self.src.position(at.span().start);
        format!("{}:{line}:{col}", self.src.file.display())
    }
}

/// An empty `dir` is a value that already failed its own check: no second error about it.
fn inside(path: &Path, dir: &Path) -> bool {
    !dir.as_os_str().is_empty() && !path.as_os_str().is_empty() && path.starts_with(dir)
}

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
        },
        matrix: TownMatrix { homeserver, mayors },
        residents: Vec::new(),
        repos: Vec::new(),
        push: PushLimits::default(),
    }
}

/// Where a value unique across the town was first seen.
#[derive(Default)]
struct Uniques {
    names: HashMap<String, String>,
    uids: HashMap<i64, String>,
    matrix: HashMap<String, String>,
}

pub fn residents(
    town: &Town,
    files: Vec<(Source, RawResident)>,
    report: &mut Report,
) -> Vec<Resident> {
    let mut uniques = Uniques::default();
    for m in &town.matrix.mayors {
        uniques
            .matrix
            .insert(m.clone(), "town.toml (a mayor)".into());
    }
    files
        .into_iter()
        .map(|(src, raw)| {
            let mut c = Checker {
                src: &src,
                report: &mut *report,
            };
            unique(&mut c, &mut uniques, &raw);
            resident(town, &mut c, raw)
        })
        .collect()
}

fn unique(c: &mut Checker, u: &mut Uniques, raw: &RawResident) {
    let check =
        |c: &mut Checker, first: Option<String>, what: String, at: std::ops::Range<usize>| {
            if let Some(first) = first {
                c.report.push(c.src.diag(
                    at,
                    format!("{what} is already used"),
                    format!("each resident needs its own; the other is at {first}"),
                ));
            }
        };
    let here = c.location(&raw.name);
    let first = u.names.insert(raw.name.get_ref().clone(), here);
    check(
        c,
        first,
        format!("name `{}`", raw.name.get_ref()),
        raw.name.span(),
    );
    let here = c.location(&raw.uid);
    let first = u.uids.insert(*raw.uid.get_ref(), here);
    check(
        c,
        first,
        format!("uid {}", raw.uid.get_ref()),
        raw.uid.span(),
    );
    let here = c.location(&raw.matrix.user);
    let first = u.matrix.insert(raw.matrix.user.get_ref().clone(), here);
    check(
        c,
        first,
        format!("Matrix user `{}`", raw.matrix.user.get_ref()),
        raw.matrix.user.span(),
    );
}

fn resident(town: &Town, c: &mut Checker, raw: RawResident) -> Resident {
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
    let user = raw.matrix.user.get_ref().clone();
    c.ok(
        &raw.matrix.user,
        v::matrix_user(&user),
        "write it as @user:server",
    );

    let agent = super::agent::agent(c, raw.agent);
    let mut persist = persisted(c, &raw.persist);
    if let Some(dir) = agent
        .kind
        .state_dir()
        .filter(|_| agent.defaults)
        .map(PathBuf::from)
    {
        let kept = persist.directories.iter().chain(&persist.files);
        if !kept
            .into_iter()
            .any(|k| k.starts_with(&dir) || dir.starts_with(k))
        {
            persist.directories.push(dir);
        }
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
            let kept = persist.directories.iter().chain(&persist.files);
            if let Some(k) = kept
                .into_iter()
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
    let budget = super::agent::budget(c, &raw.budget);
    let files = super::Files {
        max_bytes: raw
            .files
            .max_size
            .as_ref()
            .and_then(|m| c.ok(m, v::memory(m.get_ref()), "write a size such as \"20M\""))
            .unwrap_or(super::Files::default().max_bytes),
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
    }
}

/// Persisted paths: inside the home, and none inside another (they are linked one by one).
fn persisted(c: &mut Checker, raw: &super::raw::RawPersist) -> Persist {
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

fn device(c: &mut Checker, d: &super::raw::RawDevice) -> Option<DeviceRule> {
    let sub = d.subsystem.get_ref();
    if sub.is_empty()
        || !sub
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
    {
        c.err(
            &d.subsystem,
            format!("`{sub}` is not a udev subsystem"),
            "use a subsystem name such as tty, usb or hidraw",
        );
        return None;
    }
    if let Some(k) = &d.kernel
        && let Err(e) = glob::Pattern::new(k.get_ref())
    {
        c.err(
            k,
            format!("`{}` is not a valid glob: {}", k.get_ref(), e.msg),
            "write a kernel name or glob such as ttyUSB*",
        );
        return None;
    }
    if d.kernel.is_none() && d.properties.is_empty() && d.attrs.is_empty() {
        c.err(
            &d.subsystem,
            format!("this rule matches every `{sub}` device"),
            "narrow it with kernel = \"…\", attrs or properties",
        );
        return None;
    }
    let permission = match d.permission.get_ref().as_str() {
        "r" => Permission::R,
        "rw" => Permission::Rw,
        other => {
            c.err(
                &d.permission,
                format!("unknown permission `{other}`"),
                "use \"r\" or \"rw\"",
            );
            return None;
        }
    };
    if let Some(b) = &d.baud
        && !crate::serial::is_rate(*b.get_ref())
    {
        c.err(
            b,
            format!("{} is not a baud rate townhall sets", b.get_ref()),
            format!("use {}", crate::serial::RATES),
        );
        return None;
    }
    Some(DeviceRule {
        baud: d.baud.as_ref().map(|b| *b.get_ref()),
        subsystem: sub.clone(),
        kernel: d.kernel.as_ref().map(|k| k.get_ref().clone()),
        properties: d.properties.clone(),
        attrs: d.attrs.clone(),
        permission,
    })
}
