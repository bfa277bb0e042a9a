//! The town remote in the real town: ada pushes a signed branch with stock git through
//! townhall's pipe, the mayor (another Unix account) fetches it by path and verifies it with
//! stock git; every push the hook must refuse is refused with a reason, changing no ref.

use anyhow::ensure;

use crate::checks::levelling::install_probes;
use crate::support::town::Town;

const REMOTE: &str = "/srv/townhall/git/work.git";

/// As a resident in its login shell's environment: (success, stdout + stderr).
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

fn refs(t: &Town) -> anyhow::Result<String> {
    t.sh(&format!(
        "git -c safe.directory='*' -C {REMOTE} for-each-ref --format='%(refname) %(objectname)'"
    ))
}

/// A push that must be refused: it fails, says `why`, and changes no ref.
fn refused(t: &Town, user: &str, script: &str, why: &str) -> anyhow::Result<()> {
    let before = refs(t)?;
    let (ok, out) = as_user(t, user, script);
    ensure!(!ok, "accepted: `{script}`: {out}");
    ensure!(
        out.contains(why),
        "`{script}` was refused without saying `{why}`: {out}"
    );
    ensure!(
        refs(t)? == before,
        "a refused push changed refs: {}",
        refs(t)?
    );
    Ok(())
}

pub fn ada_pushes_a_signed_branch_and_the_mayor_verifies_it(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let owners = t.sh(&format!(
        "stat -c '%U' {REMOTE} && stat -c '%U %a' {REMOTE}/hooks/pre-receive"
    ))?;
    ensure!(
        owners.lines().collect::<Vec<_>>() == ["townhall-git", "root 755"],
        "the remote: {owners}"
    );
    // Every reset sets the remote up in the workspace (ada's `work` is persisted).
    t.sh("townhall reset --yes --by remote >/dev/null 2>&1")?;
    let (ok, out) = as_user(
        t,
        "ada",
        "cd ~/work/work && git remote get-url town && git config remote.town.receivepack",
    );
    ensure!(
        ok && out.contains(REMOTE) && out.contains("townhall push"),
        "ada's workspace remote: {out}"
    );
    let (ok, out) = as_user(
        t,
        "ada",
        "cd ~/work/work && git checkout -q -B feature && date +%s%N > f && git add f && git commit -q -m 'a feature' && git push town HEAD:refs/heads/ada/feature 2>&1",
    );
    ensure!(ok, "ada's push: {out}");
    ensure!(
        refs(t)?.contains("refs/heads/ada/feature"),
        "no ada/feature on the remote: {}",
        refs(t)?
    );
    // Her CLI, in a turn, commits on top and pushes the same branch with the same stock git.
    let turn = t.sh("townhall turn ada pushfeature")?;
    ensure!(turn.contains("pushed"), "the turn's push: {turn}");
    // The mayor, another Unix account, fetches by path and verifies with stock git.
    t.sh("id mayor >/dev/null 2>&1 || useradd -m mayor")?;
    let (ok, out) = as_user(
        t,
        "mayor",
        &format!(
            "git config --global --get-all safe.directory | grep -qx {REMOTE} || git config --global --add safe.directory {REMOTE}; \
             rm -rf ~/w && git init -q ~/w && cd ~/w && git fetch -q {REMOTE} refs/heads/ada/feature && \
             for c in $(git rev-list FETCH_HEAD); do git -c gpg.ssh.allowedSignersFile=/srv/townhall/allowed_signers verify-commit $c 2>&1; done; \
             git log --format=%s FETCH_HEAD"
        ),
    );
    let good = out
        .matches("Good \"git\" signature for ada@town.test")
        .count();
    ensure!(
        ok && good >= 2 && out.contains("from a turn") && out.contains("a feature"),
        "the mayor's verify-commit of each commit: {out}"
    );

    // What the hook refuses, each with its reason and no ref changed.
    let work = "cd ~/work/work && git checkout -q feature";
    refused(
        t,
        "ada",
        &format!(
            "{work} && git -c commit.gpgsign=false commit -q --allow-empty -m unsigned && git push town HEAD:refs/heads/ada/unsigned 2>&1"
        ),
        "unsigned",
    )?;
    refused(
        t,
        "ada",
        &format!(
            "{work} && rm -f ~/own ~/own.pub && ssh-keygen -q -t ed25519 -N '' -f ~/own && SSH_AUTH_SOCK= git -c user.signingkey=$HOME/own commit -q --allow-empty -m mine && git push town HEAD:refs/heads/ada/mine 2>&1"
        ),
        "not its townhall key",
    )?;
    refused(
        t,
        "ada",
        &format!(
            "{work} && git commit -q --allow-empty -m elsewhere && git push town HEAD:refs/heads/vox/x 2>&1"
        ),
        "ada may push only refs/heads/ada/",
    )?;
    let pushed =
        "cd ~/work/work && git fetch -q town && git checkout -q -B feature town/ada/feature";
    refused(
        t,
        "ada",
        &format!(
            "{pushed} && git commit -q --amend --allow-empty -m rewritten && git push -f town HEAD:refs/heads/ada/feature 2>&1"
        ),
        "fast-forward",
    )?;
    refused(
        t,
        "ada",
        &format!("{work} && git push town :refs/heads/ada/feature 2>&1"),
        "delet",
    )?;
    // vox through the same pipe is vox, whatever it claims.
    refused(
        t,
        "vox",
        "cd ~/notes/work && git commit -q --allow-empty -m 'as ada?' && git push town HEAD:refs/heads/ada/evil 2>&1",
        "vox may push only refs/heads/vox/",
    )?;
    Ok(())
}

pub fn the_room_hears_of_each_push_and_branches_lists_them(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    crate::checks::chat::block_on(async {
        let (mayor, room) =
            crate::checks::chat::room_with(t, "ada's pushes", &["@ada:town.test"], false).await?;
        let _rooms = crate::support::rooms::AdaRooms::set(t, &room)?;
        let (ok, out) = as_user(
            t,
            "ada",
            "cd ~/work/work && git checkout -q -B noticed && date +%s%N > n && git add n && git commit -q -m one && date +%s%N > n && git commit -q -am two && git push town HEAD:refs/heads/ada/noticed 2>&1",
        );
        ensure!(ok, "ada's push: {out}");
        let msgs = mayor
            .wait_for(&room, "@ada:town.test", "ada pushed `ada/noticed`")
            .await?;
        let notice = msgs
            .iter()
            .find(|(b, _)| b.contains("ada/noticed"))
            .map(|(b, _)| b.clone())
            .unwrap_or_default();
        for want in [
            "commit(s)",
            "changed",
            "signed by ada's townhall key",
            &format!("git fetch {REMOTE} refs/heads/ada/noticed"),
        ] {
            ensure!(
                notice.contains(want),
                "the push notice lacks `{want}`: {notice}"
            );
        }
        mayor.say(&room, "ada: !branches").await?;
        let listed = mayor
            .wait_for(&room, "@ada:town.test", "ada/noticed` ")
            .await?;
        ensure!(
            listed
                .iter()
                .any(|(b, _)| b.contains("**work**") && b.contains(": two")),
            "!branches: {listed:?}"
        );
        Ok(())
    })
}

/// A new branch `ada/NAME` on the remote, pushed now (the check must stand alone).
fn push_branch(t: &Town, name: &str) -> anyhow::Result<()> {
    let (ok, out) = as_user(
        t,
        "ada",
        &format!(
            "cd ~/work/work && git checkout -q -B {name} && date +%s%N > f && git add f && git commit -q -m '{name}' && git push -q town HEAD:refs/heads/ada/{name} 2>&1"
        ),
    );
    ensure!(ok, "ada's push: {out}");
    Ok(())
}

pub fn the_mayor_fetches_and_verifies_over_ssh_from_another_machine(
    t: &Town,
) -> anyhow::Result<()> {
    install_probes(t)?;
    let branch = format!(
        "over-ssh-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    push_branch(t, &branch)?;
    // The mayor's account on the town host, with a key made on the other machine (the
    // host the town runs on stands in for the mayor's laptop).
    let key = t.run.join("mayor-ssh");
    if !key.exists() {
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()?
            .success();
        ensure!(ok, "making the mayor's SSH key");
    }
    let public = std::fs::read_to_string(key.with_extension("pub"))?;
    t.sh(&format!(
        "id mayor >/dev/null 2>&1 || useradd -m mayor; install -d -o mayor -g mayor -m 700 /home/mayor/.ssh && \
         printf '%s' '{}' > /home/mayor/.ssh/authorized_keys && chown mayor: /home/mayor/.ssh/authorized_keys && chmod 600 /home/mayor/.ssh/authorized_keys && \
         su mayor -s /bin/sh -c 'git config --global --get-all safe.directory | grep -qx {REMOTE} || git config --global --add safe.directory {REMOTE}' && \
         i=0; until systemctl is-active -q ssh || [ $i -ge 50 ]; do sleep 0.2; i=$((i+1)); done; systemctl is-active ssh",
        public.trim()
    ))?;
    let ssh = format!(
        "ssh -i {} -p 2222 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR",
        key.display()
    );
    let laptop = tempfile::tempdir()?;
    let run = |script: &str| -> anyhow::Result<String> {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(laptop.path())
            .env("GIT_SSH_COMMAND", &ssh)
            .output()?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            out.status.success(),
            "on the mayor's machine, `{script}` failed: {text}"
        );
        Ok(text)
    };
    run(&format!(
        "git init -q . && git fetch -q ssh://mayor@127.0.0.1:2222{REMOTE} 'refs/heads/ada/*:refs/remotes/ada/*'"
    ))?;
    run(&format!(
        "{ssh} mayor@127.0.0.1 cat /srv/townhall/allowed_signers > allowed_signers"
    ))?;
    let verified = run(&format!(
        "git -c gpg.ssh.allowedSignersFile=allowed_signers verify-commit ada/{branch} 2>&1"
    ))?;
    ensure!(
        verified.contains("Good \"git\" signature for ada@town.test"),
        "over SSH: {verified}"
    );
    // The town's sshd admits the mayor only: a resident cannot log in around its turns.
    let ada = t.sh("grep -c '^AllowUsers mayor' /etc/ssh/sshd_config.d/town.conf")?;
    ensure!(ada.trim() == "1", "sshd is not limited to the mayor");
    Ok(())
}
