//! The worktrees on this host: stock git as the resident, through the helper unit in its
//! slice (`units::helper`), with a time limit; its answer is read strictly, as anything a
//! resident's program prints.

use std::path::Path;
use std::time::Duration;

use super::slug::{TRIES, taken};
use super::{DIR, Names, Opened, Worktrees, branch};
use crate::config::Resident;
use crate::os::OsError;

/// How long making a worktree, or reading the worktrees' state, may take.
const WITHIN: Duration = Duration::from_secs(30);

/// $1 the workspace, $2 the base name, $3 the branch prefix, $4 the worktrees' dir, $5
/// the numbered names to try, $6 the last name to try; then the names other conversations
/// of the round have. A name is free when none has it and neither its directory nor its
/// branch is there. Only a taken name moves on to the next: any other failure is the
/// answer. What git or the repository's hooks print is kept out of the answer but for the
/// last line of a failure.
const OPEN: &str = r#"ws=$1 base=$2 prefix=$3 dir=$4 tries=$5 last=$6; shift 6
cd "$ws" 2>/dev/null && [ -e .git ] || { echo not-a-repo; exit 0; }
git rev-parse -q --verify HEAD >/dev/null 2>&1 </dev/null || { echo no-commit; exit 0; }
failed() { printf 'failed %s\n' "$(printf '%s\n' "$1" | tail -n 1)"; exit 0; }
branch() { git rev-parse -q --verify "refs/heads/$prefix$slug" >/dev/null 2>&1 </dev/null; }
free() {
  for k in "$@"; do [ "$k" = "$slug" ] && return 1; done
  [ ! -e "$dir/$slug" ] && ! branch
}
err=$(mkdir -p "$dir" 2>&1) || failed "$err"
n=1; slug=$base
while :; do
  if free "$@"; then
    err=$(git worktree add -q -b "$prefix$slug" "$dir/$slug" HEAD 2>&1 >/dev/null </dev/null) && { echo "made $slug"; exit 0; }
    # A hook that failed after the checkout: the worktree is there all the same.
    [ -e "$dir/$slug/.git" ] && branch && { echo "made $slug"; exit 0; }
    failed "$err"
  fi
  [ "$slug" = "$last" ] && break
  n=$((n+1))
  if [ "$n" -le "$tries" ]; then slug="$base-$n"; else slug=$last; fi
done
echo taken"#;

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

/// At most `n` bytes of what a resident's program printed, escaped for a room.
fn shown(s: &str, n: usize) -> String {
    crate::turn::bounds::clip(s, n).escape_debug().to_string()
}

/// What the open script's answer says, for `base` (or `last`); why not, when it failed or
/// said what it never says.
pub(super) fn opened(out: &str, base: &str, last: &str) -> Result<Opened, String> {
    let line = out.trim_end_matches('\n');
    let strange = || {
        format!(
            "the helper's answer is not one townhall reads: \"{}\"",
            shown(line, 200)
        )
    };
    match line {
        "not-a-repo" => Ok(Opened::NotARepo),
        "no-commit" => Ok(Opened::NoCommit),
        "taken" => Err(format!("every name for `{base}` is taken")),
        _ if line.contains('\n') => Err(strange()),
        _ => {
            if let Some(why) = line.strip_prefix("failed ") {
                return Err(format!("git said: {}", shown(why, 300)));
            }
            match line.strip_prefix("made ") {
                Some(slug) if taken(base, slug) || slug == last => {
                    Ok(Opened::Made { slug: slug.into() })
                }
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
    fn open(&self, r: &Resident, home: &Path, names: &Names) -> Result<Opened, OsError> {
        let what = || format!("{}: making a worktree for a conversation", r.name);
        let mut c = sh(r, home, OPEN);
        c.arg(home.join(&r.agent.workspace))
            .arg(&names.base)
            .arg(branch(&r.name, ""))
            .arg(home.join(DIR))
            .arg(TRIES.to_string())
            .arg(&names.last)
            .args(&names.others);
        let out = crate::os::output_within(&mut c, WITHIN + Duration::from_secs(10))
            .map_err(|e| OsError::new(what(), e))?;
        opened(&String::from_utf8_lossy(&out), &names.base, &names.last)
            .map_err(|why| OsError::new(what(), why))
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
        let o = |out: &str| opened(out, "fix", "fix-1a2b");
        assert_eq!(o("not-a-repo\n"), Ok(Opened::NotARepo));
        assert_eq!(o("no-commit\n"), Ok(Opened::NoCommit));
        for made in ["fix-3", "fix-1a2b"] {
            let slug = made.to_string();
            assert_eq!(o(&format!("made {made}\n")), Ok(Opened::Made { slug }));
        }
        assert_eq!(
            o("failed fatal: no \x1b[2Jspace\n"),
            Err("git said: fatal: no \\u{1b}[2Jspace".into())
        );
        for hostile in [
            "made ../../etc\n",
            "made fix\nmade fix-2\n",
            "made other\n",
            "",
        ] {
            assert!(o(hostile).is_err(), "{hostile:?}");
        }
        let long = format!("made {}", "x".repeat(100_000));
        assert!(o(&long).unwrap_err().len() < 400);
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
        let open_among = |base: &str, others: &[&str]| {
            let last = format!("{base}-zz");
            let args = [&ws, base, "ada/conv-", &dir, "3", &last];
            run(h, OPEN, &[&args[..], others].concat())
        };
        let open = |base: &str| open_among(base, &[]);
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
        // A branch of that name already there (a persisted repository's) is skipped too,
        // then the last name; one another conversation has is never given.
        git(&["branch", "ada/conv-fix-3"]);
        assert_eq!(open_among("fix", &["fix-zz"]), "taken\n");
        assert_eq!(open("fix"), "made fix-zz\n");
        assert_eq!(open_among("solo", &["solo"]), "made solo-2\n");
        // A failing hook after the checkout: the worktree is there, and is the answer.
        let hooks = h.join("hooks");
        std::fs::create_dir(&hooks).unwrap();
        std::fs::write(hooks.join("post-checkout"), "#!/bin/sh\nexit 1\n").unwrap();
        run(
            h,
            "chmod +x \"$1\"",
            &[hooks.join("post-checkout").to_str().unwrap()],
        );
        git(&["config", "core.hooksPath", hooks.to_str().unwrap()]);
        assert_eq!(open("hooked"), "made hooked\n");
        git(&["config", "--unset", "core.hooksPath"]);
        // Any other failure is the answer: no second name is tried.
        assert!(open("a..b").starts_with("failed "));
        assert!(!h.join(DIR).join("a..b-2").exists());
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
