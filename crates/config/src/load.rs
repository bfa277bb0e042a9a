//! Reading the config dir and turning TOML errors into located, actionable diagnostics.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::diagnostic::{Diagnostic, Diagnostics, Report, Source};
use super::raw::{RawResident, RawTown};
use super::{Town, validate};

/// Load and validate the town in `dir`. Either every value is checked, or every problem is
/// returned. What only the host can judge (calendar specs) is `load_checked`'s.
pub fn load(dir: &Path) -> Result<Town, Diagnostics> {
    load_checked(dir, &|_| Ok(()))
}

/// `load`, and each schedule's `on` read by `calendar` as systemd would read it (the
/// daemon and `townhall check` ask systemd-analyze): an Err is the diagnostic's message.
pub fn load_checked(
    dir: &Path,
    calendar: &dyn Fn(&str) -> Result<(), String>,
) -> Result<Town, Diagnostics> {
    let dir = &std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    let mut report = Report::default();
    let (mut raw_repos, mut raw_push) = (Vec::new(), None);
    let town = read(dir, Path::new("town.toml"), &mut report).and_then(|src| {
        parse::<RawTown>(&src, &mut report).map(|mut raw| {
            raw_repos = std::mem::take(&mut raw.repos);
            raw_push = raw.push.take();
            (src, raw)
        })
    });

    let mut residents = Vec::new();
    for rel in resident_files(dir, &mut report) {
        if let Some(src) = read(dir, &rel, &mut report)
            && let Some(raw) = parse::<RawResident>(&src, &mut report)
        {
            residents.push((src, raw));
        }
    }

    let resolved = town.map(|(src, raw)| (validate::town(dir, &src, raw, &mut report), src));
    let residents = match &resolved {
        Some((t, _)) => validate::residents(t, residents, &mut report),
        None => Vec::new(),
    };
    let (repos, push) = match &resolved {
        Some((_, src)) => (
            super::repos::repos(src, raw_repos, &residents, &mut report),
            super::repos::push(src, raw_push.unwrap_or_default(), &mut report),
        ),
        None => Default::default(),
    };
    for s in residents.iter().flat_map(|r| &r.schedules) {
        if let Err(why) = calendar(&s.on) {
            report.push(Diagnostic {
                file: s.at.file.clone(),
                line: s.at.line,
                column: s.at.column,
                message: why,
                help: "write when in systemd's calendar syntax, e.g. \"Mon..Fri 07:00\"; `systemd-analyze calendar SPEC` shows how systemd reads it".into(),
            });
        }
    }
    report.finish()?;
    let (mut town, _) = resolved.expect("no diagnostics means town.toml parsed");
    town.residents = residents;
    town.repos = repos;
    town.push = push;
    Ok(town)
}

fn whole_file(file: &Path, message: String, help: &str) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        line: 0,
        column: 0,
        message,
        help: help.into(),
    }
}

fn read(dir: &Path, rel: &Path, report: &mut Report) -> Option<Source> {
    // The summary line names the dir; diagnostics stay relative to it.
    match std::fs::read_to_string(dir.join(rel)) {
        Ok(text) => Some(Source {
            file: rel.to_owned(),
            text,
        }),
        Err(e) => {
            let help = "create it, or point --config at the directory that holds town.toml";
            report.push(whole_file(rel, format!("cannot read this file: {e}"), help));
            None
        }
    }
}

/// `residents/*.toml`, sorted so diagnostics and output are stable.
fn resident_files(dir: &Path, report: &mut Report) -> Vec<PathBuf> {
    let rel = Path::new("residents");
    let entries = match std::fs::read_dir(dir.join(rel)) {
        Ok(e) => e,
        Err(e) => {
            let help = "create residents/ with one NAME.toml per resident (see residents/ada.toml)";
            report.push(whole_file(
                rel,
                format!("cannot read this directory: {e}"),
                help,
            ));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| Path::new(n).extension().is_some_and(|x| x == "toml"))
        .map(|n| rel.join(n))
        .collect();
    files.sort();
    if files.is_empty() {
        let help = "add one NAME.toml per resident (see residents/ada.toml)";
        report.push(whole_file(rel, "no resident is declared".into(), help));
    }
    files
}

fn parse<T: DeserializeOwned>(src: &Source, report: &mut Report) -> Option<T> {
    match toml::from_str::<T>(&src.text) {
        Ok(v) => Some(v),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let (message, help) = explain(e.message());
            report.push(src.diag(span, message, help));
            None
        }
    }
}

/// Split serde's message into what is wrong and what to do about it.
fn explain(msg: &str) -> (String, String) {
    let msg = msg.trim();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed = backticked(expected);
        let help = match closest(field, &allowed) {
            _ if field.contains("password") || field.contains("token") => {
                "never write a credential inline: put it in a root-only file and name it in `password_file`".into()
            }
            Some(best) => format!("did you mean `{best}`?"),
            None if allowed.is_empty() => "remove it: this table takes no fields".into(),
            None => format!("remove it; allowed here: {}", list(&allowed)),
        };
        return (format!("unknown field `{field}`"), help);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed = backticked(expected);
        return (
            format!("unknown value `{value}`"),
            format!("use one of {}", list(&allowed)),
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        let help = if TABLES.contains(&field) {
            format!("add a [{field}] table (see docs/config.md)")
        } else {
            format!("add `{field} = …` here (see docs/config.md)")
        };
        return (format!("missing field `{field}`"), help);
    }
    if msg.starts_with("invalid type") {
        return (
            msg.to_string(),
            "write a value of the expected type (see docs/config.md)".into(),
        );
    }
    if msg.starts_with("duplicate key") {
        return (msg.to_string(), "keep only one of them".into());
    }
    (msg.to_string(), "fix the TOML syntax here".into())
}

/// Required fields that are tables, so the help can say how to write them.
const TABLES: [&str; 4] = ["btrfs", "matrix", "agent", "git"];

fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_suggest_the_nearest() {
        let (m, h) = explain("unknown field `uuid`, expected one of `name`, `uid`, `git`");
        assert_eq!(m, "unknown field `uuid`");
        assert_eq!(h, "did you mean `uid`?");
        let (_, h) = explain("unknown field `zzzzzz`, expected `a` or `b`");
        assert_eq!(h, "remove it; allowed here: `a`, `b`");
    }
}

#[cfg(test)]
mod defaults {
    use super::*;

    /// The shipped town with vox's file edited by `edit`.
    fn vox_as(edit: impl Fn(String) -> String) -> Result<Town, Diagnostics> {
        crate::testing::vox_town(|t| t, edit)
    }

    #[test]
    fn each_kind_keeps_its_sessions_dir_unless_defaults_are_off() {
        let dirs = |t: Town| t.resident("vox").unwrap().persist.directories.clone();
        assert_eq!(
            dirs(vox_as(|v| v).unwrap()),
            [PathBuf::from("notes"), PathBuf::from(".gemini")]
        );
        assert_eq!(
            dirs(vox_as(|v| v.replace("\"gemini\"", "\"claude\"")).unwrap()),
            [PathBuf::from("notes"), PathBuf::from(".claude")]
        );
        let off = vox_as(|v| v.replace("kind = \"gemini\"", "kind = \"codex\"\ndefaults = false"))
            .unwrap();
        assert!(!off.resident("vox").unwrap().agent.defaults);
        assert_eq!(dirs(off), [PathBuf::from("notes")]);
    }

    #[test]
    fn a_base_url_must_be_http_and_is_located_when_wrong() {
        let ok = vox_as(|v| {
            v.replace(
                "kind = \"gemini\"",
                "kind = \"gemini\"\nbase_url = \"http://127.0.0.1:9/\"",
            )
        })
        .unwrap();
        assert_eq!(
            ok.resident("vox").unwrap().agent.base_url.as_deref(),
            Some("http://127.0.0.1:9")
        );
        let err = vox_as(|v| {
            v.replace(
                "kind = \"gemini\"",
                "kind = \"gemini\"\nbase_url = \"127.0.0.1:9\" ",
            )
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("vox.toml:")
                && err.contains("not an http:// or https:// URL")
                && err.contains("write an http://"),
            "{err}"
        );
    }
}
