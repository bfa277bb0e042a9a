//! `[[repo]]` in town.toml: the town remote's repositories, checked once the residents are
//! known (a push list may name only residents).

use std::collections::HashMap;

use super::diagnostic::{Report, Source};
use super::validate::Checker;
use super::{Repo, Resident};

/// `[[repo]]` entries of town.toml, once the residents are known.
pub fn repos(src: &Source, raw: Vec<super::raw::RawRepo>, residents: &[Resident], report: &mut Report) -> Vec<Repo> {
    // A resident whose own file failed is missing here: do not call it unknown as well.
    let residents_known = report.diagnostics.iter().all(|d| !d.file.starts_with("residents"));
    let mut c = Checker { src, report };
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for r in raw {
        let name = r.name.get_ref();
        let plain = !name.is_empty() && name != "." && name != ".." && !name.contains("..")
            && name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch));
        if !plain {
            c.err(&r.name, format!("`{name}` is not a repository name"), "use letters, digits, `-`, `_` and `.`, with no `/` or `..` (it becomes NAME.git on the town remote)");
            continue;
        }
        if let Some(first) = seen.insert(name.clone(), c.location(&r.name)) {
            c.err(&r.name, format!("repository `{name}` is declared twice"), format!("remove this one; it is already at {first}"));
            continue;
        }
        let mut push = Vec::new();
        for p in &r.push {
            if residents.iter().any(|x| x.name == *p.get_ref()) || !residents_known {
                push.push(p.get_ref().clone());
            } else {
                let known: Vec<&str> = residents.iter().map(|x| x.name.as_str()).collect();
                c.err(p, format!("`{}` is not a resident", p.get_ref()), format!("name a resident from residents/ ({})", known.join(", ")));
            }
        }
        out.push(Repo { name: name.clone(), push });
    }
    out
}
