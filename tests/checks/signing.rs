//! Signed commits in the real town, with stock git and OpenSSH's ssh-keygen and ssh-add:
//! ada's commits (in a shell and in a turn) are signed by a key only the supervisor holds,
//! through an agent that signs nothing but git's SSHSIG for her alone.

use anyhow::ensure;

use crate::checks::levelling::install_probes;
use crate::support::town::Town;

/// Run as a resident, in the environment its login shell gets (~/.profile); (success,
/// stdout + stderr).
fn as_user(t: &Town, user: &str, script: &str) -> (bool, String) {
    let out = t.as_user(
        user,
        &format!("[ -r ~/.profile ] && . ~/.profile; {script}"),
    );
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A signed commit as ada in a new repository under her workspace; returns its path.
fn shell_commit(t: &Town, repo: &str, message: &str) -> anyhow::Result<String> {
    let script = format!(
        ". ~/.profile && cd ~/work && mkdir -p {repo} && cd {repo} && {{ [ -d .git ] || git init -q; }} && date +%s%N > f && git add f && git commit -q -m '{message}' && git log -1 --format='%G? %GS'"
    );
    let (ok, out) = as_user(t, "ada", &script);
    ensure!(
        ok && out.trim().ends_with("G ada@town.test"),
        "ada's commit in a shell: {out}"
    );
    Ok(format!("/persist/ada/work/{repo}"))
}

/// `git verify-commit REV` as root with the published allowed_signers, as the mayor would.
fn verify(t: &Town, repo: &str, rev: &str) -> anyhow::Result<String> {
    t.sh(&format!(
        "git -c safe.directory='*' -c gpg.ssh.allowedSignersFile=/srv/townhall/allowed_signers -C {repo} verify-commit {rev} 2>&1"
    ))
}

pub fn ada_signs_with_a_key_she_cannot_read(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let repo = shell_commit(t, "signed", "from a shell")?;
    let good = verify(t, &repo, "HEAD")?;
    ensure!(
        good.contains("Good \"git\" signature for ada@town.test"),
        "verify-commit: {good}"
    );
    // A turn of her CLI commits too, and the commit is signed.
    let out = t.sh("townhall turn ada commit please")?;
    ensure!(
        out.contains("signed G by ada@town.test"),
        "the turn's commit: {out}"
    );
    let signers = t.sh("stat -c '%a %U' /srv/townhall/allowed_signers && grep -c 'ada@town.test namespaces=\"git\" ssh-ed25519' /srv/townhall/allowed_signers")?;
    ensure!(
        signers.starts_with("644 root"),
        "allowed_signers: {signers}"
    );
    // The key: not in any file she can read, not in the supervisor's memory or environment.
    for probe in [
        "cat /var/lib/townhall/keys/ada/current",
        "ls /var/lib/townhall",
        "cat /proc/$(pgrep -f 'townhall serve' | head -n 1)/environ",
        "head -c 1 /proc/$(pgrep -f 'townhall serve' | head -n 1)/mem",
    ] {
        let (ok, out) = as_user(t, "ada", probe);
        ensure!(!ok, "ada could `{probe}`: {out}");
    }
    let (_, found) = as_user(
        t,
        "ada",
        "grep -rl 'BEGIN OPENSSH PRIVATE KEY' /agents /persist /tmp /var /run /srv /etc 2>/dev/null || true",
    );
    ensure!(
        found.trim().is_empty(),
        "a private key ada can read: {found}"
    );
    // Her agent: one identity (hers), git signatures only, nothing added or removed.
    let (ok, listed) = as_user(t, "ada", "ssh-add -L");
    let public = t.sh("townhall keys --json")?;
    ensure!(
        ok && listed.lines().count() == 1
            && public.contains(listed.split_whitespace().nth(1).unwrap_or("-")),
        "ssh-add -L: {listed}"
    );
    let (ok, out) = as_user(
        t,
        "ada",
        "ssh-add -L > /tmp/k.pub && echo data > /tmp/d && ssh-keygen -Y sign -n file -f /tmp/k.pub -U /tmp/d",
    );
    ensure!(!ok, "the agent signed for the `file` namespace: {out}");
    let (ok, out) = as_user(
        t,
        "ada",
        "rm -f /tmp/d.sig; ssh-keygen -Y sign -n git -f /tmp/k.pub -U /tmp/d && test -s /tmp/d.sig",
    );
    ensure!(ok, "the agent refused a git signature: {out}");
    let (ok, out) = as_user(t, "ada", "ssh-add -D");
    ensure!(!ok, "ssh-add -D succeeded: {out}");
    let (_, after) = as_user(t, "ada", "ssh-add -L");
    ensure!(
        after == listed,
        "the identity changed after ssh-add -D: {after}"
    );
    // vox cannot reach her agent.
    let (ok, out) = as_user(
        t,
        "vox",
        "export SSH_AUTH_SOCK=/run/townhall-sign/ada/agent.sock; ssh-add -L",
    );
    ensure!(!ok, "vox reached ada's agent: {out}");
    let audit = t.sh("grep '\"event\":\"sign\"' /var/lib/townhall/audit.log | tail -n 1")?;
    ensure!(
        audit.contains("\"resident\":\"ada\"") && audit.contains("sha256"),
        "no audit line for a signature: {audit}"
    );
    Ok(())
}

pub fn commits_verify_across_a_reset_and_a_rotation(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let repo = shell_commit(t, "rounds", "before the reset")?;
    let before = t.sh("grep ^ada@ /srv/townhall/allowed_signers")?;
    t.sh("townhall reset --yes --by signing >/dev/null 2>&1")?;
    shell_commit(t, "rounds", "after the reset")?;
    ensure!(
        t.sh("grep ^ada@ /srv/townhall/allowed_signers")? == before,
        "a reset changed ada's key"
    );
    for rev in ["HEAD", "HEAD~1"] {
        let v = verify(t, &repo, rev)?;
        ensure!(
            v.contains("Good \"git\" signature for ada@town.test"),
            "after a reset, {rev}: {v}"
        );
    }
    let out = t.sh("townhall keys rotate ada")?;
    ensure!(out.contains("signs with ssh-ed25519"), "rotate: {out}");
    shell_commit(t, "rounds", "after the rotation")?;
    let keys: Vec<String> = t.sh(&format!("git -c safe.directory='*' -c gpg.ssh.allowedSignersFile=/srv/townhall/allowed_signers -C {repo} log --format='%G? %GK'"))?.lines().map(String::from).collect();
    ensure!(
        keys.len() == 3 && keys.iter().all(|k| k.starts_with("G ")),
        "after a rotation: {keys:?}"
    );
    ensure!(
        keys[0] != keys[1] && keys[1] == keys[2],
        "the newest commit should use the new key, the older ones the old: {keys:?}"
    );
    Ok(())
}
