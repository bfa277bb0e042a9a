//! The residents' files checked together: each one on its own (resident.rs), and its name,
//! uid and Matrix user unique across the town (mayors' Matrix IDs included).

use std::collections::HashMap;

use super::Checker;
use super::resident::resident;
use crate::diagnostic::{Report, Source};
use crate::raw::RawResident;
use crate::*;

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
    // `[[on]] push` names another resident: every name, before any file is checked.
    let names = files
        .iter()
        .map(|(_, r)| r.name.get_ref().clone())
        .collect();
    // `approve_by` never names a resident: every resident's Matrix user, before any file.
    let users = files
        .iter()
        .map(|(_, r)| r.matrix.user.get_ref().clone())
        .collect();
    files
        .into_iter()
        .map(|(src, raw)| {
            let mut c = Checker {
                src: &src,
                report: &mut *report,
            };
            unique(&mut c, &mut uniques, &raw);
            resident(town, &names, &users, &mut c, raw)
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
