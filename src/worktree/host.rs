//! The worktrees on this host: stock git as the resident, through the helper unit in its
//! slice (`units::helper`), with a time limit; its answer is read strictly, as anything a
//! resident's program prints.

use std::path::Path;
use std::time::Duration;

use super::slug::{TRIES, taken};
use super::{DIR, Opened, Worktrees, branch};
use crate::config::Resident;
use crate::os::OsError;

/// How long making a worktree, or reading the worktrees' state, may take.
const WITHIN: Duration = Duration::from_secs(30);

/// $1 the workspace, $2 the base name, $3 the branch prefix, $4 the worktrees' dir, $5
/// the tries. What git or the repository's hooks print is kept out of the answer but for
/// the last line of a failure.
const OPEN: &str = r#"cd "$1" 2>/dev/null && [ -e .git ] || { echo not-a-repo; exit 0; }
git rev-parse -q --verify HEAD >/dev/null 2>&1 </dev/null || { echo no-commit; exit 0; }
err=$(mkdir -p "$4" 2>&1) || { printf 'failed %s\n' "$(printf '%s\n' "$err" | tail -n 1)"; exit 0; }
n=1; slug=$2; err="every name was taken"
while [ "$n" -le "$5" ]; do
  if [ ! -e "$4/$slug" ] && ! git rev-parse -q --verify "refs/heads/$3$slug" >/dev/null 2>&1 </dev/null; then
    if err=$(git worktree add -q -b "$3$slug" "$4/$slug" HEAD 2>&1 >/dev/null </dev/null); then
      echo "made $slug"; exit 0
    fi
  fi
  n=$((n+1)); slug="$2-$n"
done
printf 'failed %s\n' "$(printf '%s\n' "$err" | tail -n 1)""#;

/// $1 the workspace.
const PRUNE: &str = r#"cd "$1" 2>/dev/null && [ -e .git ] || exit 0
git worktree prune </dev/null"#;

/// $1 the worktrees' dir, then each worktree's name: a line each, its count or `?`. No
/// optional lock is taken: a turn may be running git in the worktree meanwhile.
const DIRTY: &str = r#"d=$1; shift
for s in "$@"; do
  if out=$(git --no-optional-locks -C "$d/$s" status --porcelain 2>/dev/null </dev/null); then
    printf '%s\n' "$out" | grep -c . || true
  else echo '?'; fi
done"#;

pub struct HostWorktrees;

fn sh(r: &Resident, home: &Path, script: &str) -> std::process::Command {
    let mut c =
        crate::units::helper::as_resident(r.uid, r.uid, home, &[], 0o022, WITHIN, "/bin/sh");
    c.args(["-c", script, "sh"]);
    c.stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

/// What the open script's answer says, for `base`; why not, when it failed or said what
/// it never says.
pub(super) fn opened(out: &str, base: &str) -> Result<Opened, String> {
    let line = out.trim_end_matches('\n');
    let strange = || format!("git's answer is not one townhall reads: {line:.200?}");
    match line {
        "not-a-repo" => Ok(Opened::NotARepo),
        "no-commit" => Ok(Opened::NoCommit),
        _ if line.contains('\n') => Err(strange()),
        _ => {
            if let Some(why) = line.strip_prefix("failed ") {
                return Err(format!("git: {why:.300}"));
            }
            match line.strip_prefix("made ") {
                Some(slug) if taken(base, slug) => Ok(Opened::Made { slug: slug.into() }),
                _ => Err(strange()),
            }
        }
    }
}

/// The dirty script's answer: a count or None per worktree, or nothing at all when it is
/// not one line per worktree.
pub(super) fn counts(out: &str, n: usize) -> Vec<Option<u64>> {
    let lines: Vec<&str> = out.lines().collect();
    if lines.len() != n {
        return vec![None; n];
    }
    lines.iter().map(|l| l.parse().ok()).collect()
}

impl Worktrees for HostWorktrees {
    fn open(&self, r: &Resident, home: &Path, base: &str) -> Result<Opened, OsError> {
        let what = || format!("{}: making a worktree for a conversation", r.name);
        let mut c = sh(r, home, OPEN);
        c.arg(home.join(&r.agent.workspace))
            .arg(base)
            .arg(branch(&r.name, ""))
            .arg(home.join(DIR))
            .arg(TRIES.to_string());
        let out = crate::os::output_within(&mut c, WITHIN + Duration::from_secs(10))
            .map_err(|e| OsError::new(what(), e))?;
        opened(&String::from_utf8_lossy(&out), base).map_err(|why| OsError::new(what(), why))
    }

    fn dirty(&self, r: &Resident, home: &Path, slugs: &[String]) -> Vec<Option<u64>> {
        if slugs.is_empty() {
            return Vec::new();
        }
        let mut c = sh(r, home, DIRTY);
        c.arg(home.join(DIR)).args(slugs);
        match crate::os::output_within(&mut c, WITHIN + Duration::from_secs(10)) {
            Ok(out) => counts(&String::from_utf8_lossy(&out), slugs.len()),
            Err(e) => {
                tracing::warn!(resident = %r.name, "reading its worktrees: {e}");
                vec![None; slugs.len()]
            }
        }
    }

    fn prune(&self, r: &Resident, home: &Path) -> Result<(), OsError> {
        let mut c = sh(r, home, PRUNE);
        c.arg(home.join(&r.agent.workspace));
        crate::os::output_within(&mut c, WITHIN + Duration::from_secs(10))
            .map(|_| ())
            .map_err(|e| OsError::new(format!("{}: pruning the worktrees", r.name), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_answers_the_scripts_give_are_read() {
        assert_eq!(opened("not-a-repo\n", "fix"), Ok(Opened::NotARepo));
        assert_eq!(opened("no-commit\n", "fix"), Ok(Opened::NoCommit));
        assert_eq!(
            opened("made fix-3\n", "fix"),
            Ok(Opened::Made {
                slug: "fix-3".into()
            })
        );
        assert_eq!(
            opened("failed fatal: no space\n", "fix"),
            Err("git: fatal: no space".into())
        );
        for hostile in [
            "made ../../etc\n",
            "made fix\nmade fix-2\n",
            "made other\n",
            "",
        ] {
            assert!(opened(hostile, "fix").is_err(), "{hostile:?}");
        }
        assert_eq!(counts("0\n3\n?\n", 3), [Some(0), Some(3), None]);
        assert_eq!(counts("0\n3\n", 3), [None, None, None]);
    }
}

#[cfg(test)]
mod scripts {
    //! The scripts on stock git, run here directly (the helper unit only adds the
    //! resident's ids and limits).

    use super::*;

    fn run(home: &Path, script: &str, args: &[&str]) -> String {
        let out = std::process::Command::new("/bin/sh")
            .args(["-c", script, "sh"])
            .args(args)
            .env_clear()
            .env("HOME", home)
            .env("PATH", crate::units::helper::PATH)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn a_repository_with_a_commit_gets_a_worktree_on_a_branch_of_its_own() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let ws = h.join("work").display().to_string();
        let dir = h.join(DIR).display().to_string();
        let open = |base: &str| run(h, OPEN, &[&ws, base, "ada/conv-", &dir, "3"]);
        std::fs::create_dir(&ws).unwrap();
        assert_eq!(open("fix"), "not-a-repo\n");
        let git = |args: &[&str]| {
            run(
                h,
                "d=$1; shift; git -C \"$d\" \"$@\"",
                &[&[ws.as_str()], args].concat(),
            )
        };
        git(&["init", "-q"]);
        assert_eq!(open("fix"), "no-commit\n");
        git(&[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@b",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "base",
        ]);
        assert_eq!(open("fix"), "made fix\n");
        assert_eq!(open("fix"), "made fix-2\n");
        // A branch of that name already there (a persisted repository's) is skipped too.
        git(&["branch", "ada/conv-fix-3"]);
        assert!(open("fix").starts_with("failed "), "no fourth name");
        let heads = run(
            h,
            "git -C \"$1\" rev-parse --abbrev-ref HEAD",
            &[&format!("{dir}/fix-2")],
        );
        assert_eq!(heads, "ada/conv-fix-2\n");
        std::fs::write(h.join(DIR).join("fix/new"), "x").unwrap();
        assert_eq!(run(h, DIRTY, &[&dir, "fix", "fix-2", "gone"]), "1\n0\n?\n");
        std::fs::remove_dir_all(h.join(DIR).join("fix")).unwrap();
        run(h, PRUNE, &[&ws]);
        let listed = git(&["worktree", "list", "--porcelain"]);
        assert!(
            !listed.contains("/fix\n") && listed.contains("/fix-2\n"),
            "{listed}"
        );
    }
}
