//! `[[repo]]` in town.toml: the town remote's repositories, checked once the residents are
//! known (a push list may name only residents); and `[push]`, what one push may take.

use std::collections::HashMap;

use super::diagnostic::{Report, Source};
use super::validate::Checker;
use super::values as v;
use super::{PushLimits, Repo, Resident};

/// `[[repo]]` entries of town.toml, once the residents are known.
pub fn repos(
    src: &Source,
    raw: Vec<super::raw::RawRepo>,
    residents: &[Resident],
    report: &mut Report,
) -> Vec<Repo> {
    // A resident whose own file failed is missing here: do not call it unknown as well.
    let residents_known = report
        .diagnostics
        .iter()
        .all(|d| !d.file.starts_with("residents"));
    let mut c = Checker { src, report };
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for r in raw {
        let name = r.name.get_ref();
        let plain = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains("..")
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
        if !plain {
            c.err(&r.name, format!("`{name}` is not a repository name"), "use letters, digits, `-`, `_` and `.`, with no `/` or `..` (it becomes NAME.git on the town remote)");
            continue;
        }
        if let Some(first) = seen.insert(name.clone(), c.location(&r.name)) {
            c.err(
                &r.name,
                format!("repository `{name}` is declared twice"),
                format!("remove this one; it is already at {first}"),
            );
            continue;
        }
        let mut push = Vec::new();
        for p in &r.push {
            if residents.iter().any(|x| x.name == *p.get_ref()) || !residents_known {
                push.push(p.get_ref().clone());
            } else {
                let known: Vec<&str> = residents.iter().map(|x| x.name.as_str()).collect();
                c.err(
                    p,
                    format!("`{}` is not a resident", p.get_ref()),
                    format!("name a resident from residents/ ({})", known.join(", ")),
                );
            }
        }
        out.push(Repo {
            name: name.clone(),
            push,
        });
    }
    out
}

/// `[push]`, with the defaults for what is not written.
pub fn push(src: &Source, raw: super::raw::RawPush, report: &mut Report) -> PushLimits {
    let mut c = Checker { src, report };
    let mut limits = PushLimits::default();
    if let Some(s) = &raw.max_size
        && let Some(n) = c.ok(
            s,
            v::memory(s.get_ref()),
            "write a size such as \"100M\" or \"1G\"",
        )
    {
        limits.max_size = n;
    }
    for (at, slot) in [(&raw.idle, &mut limits.idle), (&raw.time, &mut limits.time)] {
        if let Some(s) = at
            && let Some(d) = c.ok(
                s,
                v::duration(s.get_ref()),
                "write a duration such as \"60s\" or \"10m\"",
            )
        {
            *slot = d;
        }
    }
    if let Some(n) = &raw.at_once {
        match u32::try_from(*n.get_ref()) {
            Ok(k) if (1..=64).contains(&k) => limits.at_once = k,
            _ => c.err(
                n,
                format!(
                    "{} pushes at once is not a number townhall can hold to",
                    n.get_ref()
                ),
                "write a number from 1 to 64",
            ),
        }
    }
    limits
}
