//! Every bad config in tests/config-corpus/ must be rejected by `townhall check` with exactly
//! the diagnostics its `--- expect` section lists (file:line:column, message, help).
//!
//! A case starts from the shipped config (town.toml, residents/ada.toml, residents/vox.toml)
//! and replaces whole files: `--- PATH` then the file's text, or `--- PATH (absent)`.
//! `BLESS=1 cargo test --test config_corpus` rewrites the expect sections (review the diff!).

use std::path::{Path, PathBuf};
use std::process::Command;

const BASE_FILES: [&str; 3] = ["town.toml", "residents/ada.toml", "residents/vox.toml"];

struct Case {
    path: PathBuf,
    header: String,
    files: Vec<(String, Option<String>)>,
    expect: String,
}

fn parse(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap();
    let mut sections = text.split("\n--- ");
    let header = sections.next().unwrap().to_string();
    let mut files = Vec::new();
    let mut expect = None;
    for s in sections {
        let (name, body) = s.split_once('\n').unwrap_or((s, ""));
        match name.trim() {
            "expect" => expect = Some(body.trim_end().to_string()),
            n if n.ends_with(" (absent)") => {
                files.push((n.trim_end_matches(" (absent)").to_string(), None))
            }
            n => files.push((n.to_string(), Some(body.to_string()))),
        }
    }
    let expect = expect.unwrap_or_else(|| panic!("{}: no `--- expect` section", path.display()));
    Case {
        path: path.to_owned(),
        header,
        files,
        expect,
    }
}

fn materialise(case: &Case, dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("residents")).unwrap();
    for f in BASE_FILES {
        std::fs::copy(root.join(f), dir.join(f)).unwrap();
    }
    for (name, body) in &case.files {
        let p = dir.join(name);
        match body {
            Some(b) => {
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, b).unwrap();
            }
            None if p.is_dir() => std::fs::remove_dir_all(&p).unwrap(),
            None => std::fs::remove_file(&p).unwrap(),
        }
    }
}

fn check(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_townhall"))
        .arg("check")
        .arg("--config")
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // The last line names the temp dir; everything before it is the diagnostics.
    let body: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains(" problem(s) in the config at "))
        .collect();
    (out.status.success(), body.join("\n"))
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config-corpus");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    v.sort();
    v
}

#[test]
fn shipped_examples_pass_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ok, err) = check(root);
    assert!(ok, "the shipped config fails check:\n{err}");
}

#[test]
fn every_bad_config_is_rejected_with_its_exact_diagnostics() {
    let all = cases();
    assert!(all.len() >= 40, "the corpus has only {} cases", all.len());
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for path in all {
        let case = parse(&path);
        let tmp = tempfile::tempdir().unwrap();
        materialise(&case, tmp.path());
        let (ok, got) = check(tmp.path());
        if ok {
            failures.push(format!(
                "{}: accepted, but should be rejected",
                path.display()
            ));
            continue;
        }
        if got != case.expect {
            if bless {
                let text = std::fs::read_to_string(&case.path).unwrap();
                let cut = text.find("\n--- expect").unwrap();
                std::fs::write(&case.path, format!("{}\n--- expect\n{got}\n", &text[..cut]))
                    .unwrap();
            } else {
                failures.push(format!(
                    "{}:\n  expected:\n{}\n  got:\n{got}",
                    path.display(),
                    case.expect
                ));
            }
        }
        let _ = &case.header;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
