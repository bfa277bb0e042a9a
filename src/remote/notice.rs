//! What the rooms hear about the town remote: one notice per accepted push (branch, commits,
//! diffstat, signatures, the mayor's fetch line) and `!branches`. Read with git running as
//! the remote's user, never as root.

use std::collections::BTreeMap;
use std::path::Path;

use super::hook::ZERO;
use super::{git_as, git_user, repo_path};
use crate::config::Town;
use crate::hall::{Branch, Notice, RepoBranches};

/// git's empty tree, the base of a diffstat for a branch with no parent.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

fn git_out(repo: &Path, args: &[&str]) -> Option<String> {
    let user = git_user().ok()?;
    let out = git_as(
        user.uid.as_raw(),
        user.gid.as_raw(),
        Path::new("/nonexistent"),
    )
    .arg("-C")
    .arg(repo)
    .args(args)
    .output()
    .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The pusher's refs in `repo`: name → commit.
pub fn refs_of(repo: &str, pusher: &str) -> BTreeMap<String, String> {
    let path = repo_path(repo);
    let list = git_out(
        &path,
        &[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            &format!("refs/heads/{pusher}/"),
            &format!("refs/tags/{pusher}/"),
        ],
    )
    .unwrap_or_default();
    list.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(r, c)| (r.to_string(), c.to_string()))
        .collect()
}

/// One notice per ref the push changed.
pub fn push_notices(
    repo: &str,
    pusher: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<Notice> {
    let path = repo_path(repo);
    let mut out = Vec::new();
    for (refname, new) in after {
        let old = before.get(refname).map_or(ZERO, String::as_str);
        if old == new {
            continue;
        }
        let range: Vec<String> = if old == ZERO {
            std::iter::once(new.clone())
                .chain(before.values().map(|c| format!("^{c}")))
                .collect()
        } else {
            vec![new.clone(), format!("^{old}")]
        };
        let mut args = vec!["rev-list", "--count"];
        args.extend(range.iter().map(String::as_str));
        let commits = git_out(&path, &args).unwrap_or_else(|| "?".into());
        let base = if old != ZERO {
            old.to_string()
        } else {
            git_out(&path, &["rev-parse", "--verify", "-q", &format!("{new}^")])
                .unwrap_or_else(|| EMPTY_TREE.into())
        };
        let stat = git_out(&path, &["diff", "--shortstat", &base, new])
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "no file changes".into());
        out.push(Notice::Pushed {
            pusher: pusher.into(),
            repo: repo.into(),
            path: path.display().to_string(),
            refname: refname.clone(),
            commits,
            stat,
        });
    }
    out
}

/// `!branches`: the resident's branches on each repository it may push to, newest first.
pub fn branches(town: &Town, resident: &str) -> Vec<RepoBranches> {
    let fields =
        "--format=%(refname:short)%1f%(objectname:short)%1f%(committerdate:relative)%1f%(subject)";
    town.repos
        .iter()
        .filter(|r| r.push.iter().any(|p| p == resident))
        .map(|repo| {
            let list = git_out(
                &repo_path(&repo.name),
                &[
                    "for-each-ref",
                    "--sort=-committerdate",
                    fields,
                    &format!("refs/heads/{resident}/"),
                ],
            )
            .unwrap_or_default();
            let branches = list
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.splitn(4, '\x1f').collect();
                    let [name, commit, when, subject] = f[..] else {
                        return None;
                    };
                    Some(Branch {
                        name: name.into(),
                        commit: commit.into(),
                        when: when.into(),
                        subject: subject.into(),
                    })
                })
                .collect();
            RepoBranches {
                repo: repo.name.clone(),
                path: repo_path(&repo.name).display().to_string(),
                branches,
            }
        })
        .collect()
}
