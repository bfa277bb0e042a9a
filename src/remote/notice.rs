//! What the rooms hear about the town remote: one notice per accepted push (branch, commits,
//! diffstat, signatures, the mayor's fetch line) and `!branches`. Read with git running as
//! the remote's user, never as root.

use std::collections::BTreeMap;
use std::path::Path;

use super::hook::ZERO;
use super::{git_as, git_user, repo_path};
use crate::config::Town;
/// git's empty tree, the base of a diffstat for a branch with no parent.
const EMPTY_TREE: &str = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

fn git_out(repo: &Path, args: &[&str]) -> Option<String> {
    let user = git_user().ok()?;
    let out = git_as(user.uid.as_raw(), user.gid.as_raw(), Path::new("/nonexistent")).arg("-C").arg(repo).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The pusher's refs in `repo`: name → commit.
pub fn refs_of(repo: &str, pusher: &str) -> BTreeMap<String, String> {
    let path = repo_path(repo);
    let list = git_out(&path, &["for-each-ref", "--format=%(refname) %(objectname)", &format!("refs/heads/{pusher}/"), &format!("refs/tags/{pusher}/")]).unwrap_or_default();
    list.lines().filter_map(|l| l.split_once(' ')).map(|(r, c)| (r.to_string(), c.to_string())).collect()
}

/// One notice per ref the push changed.
pub fn push_notices(repo: &str, pusher: &str, before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let path = repo_path(repo);
    let mut out = Vec::new();
    for (refname, new) in after {
        let old = before.get(refname).map_or(ZERO, String::as_str);
        if old == new {
            continue;
        }
        let range: Vec<String> = if old == ZERO {
            std::iter::once(new.clone()).chain(before.values().map(|c| format!("^{c}"))).collect()
        } else {
            vec![new.clone(), format!("^{old}")]
        };
        let mut args = vec!["rev-list", "--count"];
        args.extend(range.iter().map(String::as_str));
        let commits = git_out(&path, &args).unwrap_or_else(|| "?".into());
        let base = if old != ZERO {
            old.to_string()
        } else {
            git_out(&path, &["rev-parse", "--verify", "-q", &format!("{new}^")]).unwrap_or_else(|| EMPTY_TREE.into())
        };
        let stat = git_out(&path, &["diff", "--shortstat", &base, new]).filter(|s| !s.is_empty()).unwrap_or_else(|| "no file changes".into());
        let short = refname.trim_start_matches("refs/heads/").trim_start_matches("refs/tags/");
        out.push(format!(
            "**{pusher} pushed `{short}`** to `{repo}`: {commits} commit(s), {stat}; every commit signed by {pusher}'s townhall key.\n```\ngit fetch {} {refname}\n```",
            path.display()
        ));
    }
    out
}

/// `!branches`: the resident's branches on each repository, newest first.
pub fn branches(town: &Town, resident: &str) -> String {
    let mut s = String::new();
    for repo in town.repos.iter().filter(|r| r.push.iter().any(|p| p == resident)) {
        let list = git_out(
            &repo_path(&repo.name),
            &["for-each-ref", "--sort=-committerdate", "--format=- `%(refname:short)` %(objectname:short) %(committerdate:relative): %(subject)", &format!("refs/heads/{resident}/")],
        )
        .unwrap_or_default();
        let list = if list.is_empty() { "_no branches yet_".to_string() } else { list };
        s.push_str(&format!("**{}** ({}):\n{list}\n", repo.name, repo_path(&repo.name).display()));
    }
    if s.is_empty() { format!("_{resident} may push to no repository of the town remote._") } else { s }
}
