//! The pre-receive hook: `townhall hook pre-receive`, run by `git receive-pack` as the
//! remote's user. The pusher comes from the daemon (TOWNHALL_PUSHER, set from SO_PEERCRED),
//! never from anything the pusher sent. A push is accepted only when every ref is under the
//! pusher's own namespace, nothing is deleted or rewritten, and every new commit is signed
//! by the pusher's current key with the pusher's email as committer.

use std::io::BufRead;
use std::path::Path;
use std::process::Command;

use crate::config::Town;

/// Why one ref of a push is refused; shown to the pusher by git as `remote: …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("{refname}: {pusher} may push only refs/heads/{pusher}/… and refs/tags/{pusher}/…")]
    Namespace { pusher: String, refname: String },
    #[error("{refname}: deleting refs is not allowed on the town remote")]
    Delete { refname: String },
    #[error(
        "{refname}: not a fast-forward (force-pushes are not allowed): push to a new branch instead"
    )]
    Rewrite { refname: String },
    #[error(
        "{refname}: commit {commit} is {why}: every commit must be signed by {pusher}'s townhall key (commit inside a turn or a login shell, where git signs by default)"
    )]
    Unsigned {
        refname: String,
        commit: String,
        why: String,
        pusher: String,
    },
    #[error("{refname}: commit {commit} has committer {found}, not {pusher}'s {want}")]
    Committer {
        refname: String,
        commit: String,
        found: String,
        want: String,
        pusher: String,
    },
    #[error("{0}")]
    Broken(String),
}

/// git's "no commit": the old side of a new ref, the new side of a deletion.
pub(super) const ZERO: &str = "0000000000000000000000000000000000000000";

/// The namespace rule alone (pure): refs/heads/NAME/… or refs/tags/NAME/…, no deletes.
pub fn check_ref(pusher: &str, new: &str, refname: &str) -> Result<(), Rejection> {
    let own = [
        format!("refs/heads/{pusher}/"),
        format!("refs/tags/{pusher}/"),
    ];
    let rest = own.iter().find_map(|p| refname.strip_prefix(p.as_str()));
    if rest.is_none_or(|r| r.is_empty() || r.split('/').any(|c| c.is_empty() || c == "..")) {
        return Err(Rejection::Namespace {
            pusher: pusher.into(),
            refname: refname.into(),
        });
    }
    if new.trim_start_matches('0').is_empty() {
        return Err(Rejection::Delete {
            refname: refname.into(),
        });
    }
    Ok(())
}

fn git(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(repo);
    c
}

fn out(cmd: &mut Command) -> Result<String, Rejection> {
    let o = cmd
        .output()
        .map_err(|e| Rejection::Broken(format!("running git: {e}")))?;
    if !o.status.success() {
        return Err(Rejection::Broken(format!(
            "git failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Check one ref update against the repository (signatures, fast-forward).
fn check_update(
    repo: &Path,
    signers: &Path,
    pusher: &str,
    email: &str,
    old: &str,
    new: &str,
    refname: &str,
) -> Result<(), Rejection> {
    check_ref(pusher, new, refname)?;
    if old != ZERO {
        let ff = git(repo)
            .args(["merge-base", "--is-ancestor", old, new])
            .status()
            .map_err(|e| Rejection::Broken(e.to_string()))?;
        if !ff.success() {
            return Err(Rejection::Rewrite {
                refname: refname.into(),
            });
        }
    }
    let commits = out(git(repo).args(["rev-list", new, "--not", "--all"]))?;
    for c in commits.lines().filter(|l| !l.is_empty()) {
        let show = out(git(repo)
            .arg("-c")
            .arg(format!("gpg.ssh.allowedSignersFile={}", signers.display()))
            .args(["log", "-1", "--format=%G?%x00%ce", c]))?;
        let (status, committer) = show.trim_end().split_once('\0').unwrap_or(("N", ""));
        let why = match status {
            "G" => None,
            "N" => Some("unsigned"),
            "U" | "E" => Some("signed by a key that is not its townhall key"),
            "B" => Some("signed, but the signature is bad"),
            "X" | "Y" | "R" => Some("signed by an expired or revoked key"),
            _ => Some("not verifiably signed"),
        };
        let short = c.chars().take(12).collect::<String>();
        if let Some(why) = why {
            return Err(Rejection::Unsigned {
                refname: refname.into(),
                commit: short,
                why: why.into(),
                pusher: pusher.into(),
            });
        }
        if committer != email {
            return Err(Rejection::Committer {
                refname: refname.into(),
                commit: short,
                found: committer.into(),
                want: email.into(),
                pusher: pusher.into(),
            });
        }
    }
    Ok(())
}

/// The hook itself: ref updates on stdin, rejections on stderr; Err when any is refused.
pub fn pre_receive(
    town: &Town,
    pusher: &str,
    repo: &Path,
    stdin: impl BufRead,
) -> Result<Vec<String>, Vec<Rejection>> {
    let Some(r) = town.resident(pusher) else {
        return Err(vec![Rejection::Broken(format!(
            "`{pusher}` is not a resident of this town"
        ))]);
    };
    // Only the pusher's current key, for its own email: a retired or another's key fails.
    let Some(public) = current_key_from_published(&r.git.email) else {
        return Err(vec![Rejection::Broken(format!(
            "no published signing key for {pusher}"
        ))]);
    };
    let signers = match tempfile::NamedTempFile::new() {
        Ok(f) => f,
        Err(e) => {
            return Err(vec![Rejection::Broken(format!(
                "a temporary allowed_signers: {e}"
            ))]);
        }
    };
    if let Err(e) = std::fs::write(
        signers.path(),
        format!("{} namespaces=\"git\" {public}\n", r.git.email),
    ) {
        return Err(vec![Rejection::Broken(format!(
            "writing allowed_signers: {e}"
        ))]);
    }
    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    for line in stdin.lines().map_while(Result::ok) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [old, new, refname] = f[..] else { continue };
        match check_update(
            repo,
            signers.path(),
            pusher,
            &r.git.email,
            old,
            new,
            refname,
        ) {
            Ok(()) => ok.push(refname.to_string()),
            Err(e) => refused.push(e),
        }
    }
    if refused.is_empty() {
        Ok(ok)
    } else {
        Err(refused)
    }
}

/// The hook runs as the remote's user, who cannot read the state dir: the published
/// allowed_signers line for `email` without `valid-before` is its current key.
fn current_key_from_published(email: &str) -> Option<String> {
    let text = std::fs::read_to_string(crate::sign::allowed_signers_path()).ok()?;
    text.lines()
        .filter(|l| l.starts_with(&format!("{email} ")) && !l.contains("valid-before"))
        .find_map(|l| l.split_once(" ssh-").map(|(_, k)| format!("ssh-{k}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "1111111111111111111111111111111111111111";

    #[test]
    fn a_resident_pushes_only_into_its_own_namespace() {
        assert!(check_ref("ada", C, "refs/heads/ada/feature").is_ok());
        assert!(check_ref("ada", C, "refs/tags/ada/v1").is_ok());
        for bad in [
            "refs/heads/vox/x",
            "refs/heads/main",
            "refs/heads/ada",
            "refs/heads/ada/",
            "refs/heads/ada/../main",
            "refs/heads/adam/x",
            "refs/notes/ada/x",
        ] {
            assert!(
                matches!(check_ref("ada", C, bad), Err(Rejection::Namespace { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            check_ref("ada", ZERO, "refs/heads/ada/feature"),
            Err(Rejection::Delete { .. })
        ));
        assert!(matches!(
            check_ref("ada", ZERO, "refs/heads/vox/x"),
            Err(Rejection::Namespace { .. })
        ));
    }
}
