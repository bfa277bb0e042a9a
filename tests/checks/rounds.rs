//! Rounds in the real town: accounts, homes, the btrfs reset, persistence, secrets, boot.

use anyhow::{Context, ensure};

use crate::support::town::Town;

fn round(t: &Town) -> anyhow::Result<u64> {
    Ok(t.sh("cat /var/lib/townhall/round")?.trim().parse()?)
}

/// Run as a resident; Ok(stdout) only when it succeeded.
pub(crate) fn as_ok(t: &Town, user: &str, script: &str) -> anyhow::Result<String> {
    let out = t.as_user(user, script);
    ensure!(
        out.status.success(),
        "as {user}: `{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A copy of the installed config with town.toml edited by `sed`.
fn variant(t: &Town, name: &str, sed: &str) -> anyhow::Result<String> {
    let dir = format!("/etc/townhall-{name}");
    t.sh(&format!(
        "rm -rf {dir} && cp -a /etc/townhall {dir} && sed -i {sed} {dir}/town.toml"
    ))?;
    Ok(dir)
}

pub fn residents_are_users_with_private_homes(t: &Town) -> anyhow::Result<()> {
    ensure!(round(t)? >= 1, "the boot reset did not run");
    for (name, uid) in [("ada", 1100), ("vox", 1101)] {
        let pw = t.sh(&format!("getent passwd {name}"))?;
        ensure!(
            pw.starts_with(&format!("{name}:x:{uid}:{uid}:")),
            "passwd: {pw}"
        );
        let st = t.sh(&format!("stat -c '%a %U %G' /agents/{name}/"))?;
        ensure!(
            st.trim() == format!("700 {name} {name}"),
            "/agents/{name}: {st}"
        );
    }
    let peek = t.as_user("ada", "ls /agents/vox");
    ensure!(
        !peek.status.success(),
        "ada listed vox's home: {}",
        String::from_utf8_lossy(&peek.stdout)
    );
    let git = as_ok(t, "ada", "git config --global user.email")?;
    ensure!(git.trim() == "ada@town.test", "ada's git identity: {git}");
    Ok(())
}

pub fn init_prepares_a_fresh_host_and_is_idempotent(t: &Town) -> anyhow::Result<()> {
    let dir = variant(
        t,
        "init",
        r#"-e 's|^agents = .*|agents = "/agents-init"|' -e 's|^persist = .*|persist = "/persist-init"|' -e 's|^state = .*|state = "/var/lib/townhall-init"|' -e 's|^live = .*|live = "@init"|' -e 's|^blank = .*|blank = "@init-blank"|' -e 's|^push = .*|push = []|'"#,
    )?;
    // A resident of its own (ivy, uid 1200), so init also creates its account.
    t.sh(&format!(
        "cd {dir}/residents && sed -e 's/vox/ivy/g' -e 's/Vox/Ivy/g' -e 's/^uid = .*/uid = 1200/' vox.toml > ivy.toml && rm ada.toml vox.toml"
    ))?;
    let first = t.sh(&format!("townhall init --config {dir}"))?;
    for want in [
        "created user ivy (uid 1200)",
        "blank subvolume /town/@init-blank",
        "live subvolume /town/@init",
        "linked /agents-init",
        "built the home of ivy",
    ] {
        ensure!(first.contains(want), "init did not say `{want}`:\n{first}");
    }
    let ro = t.sh("btrfs property get -ts /town/@init-blank ro")?;
    ensure!(ro.trim() == "ro=true", "blank: {ro}");
    let modes =
        t.sh("stat -c '%a %U' /var/lib/townhall-init /persist-init/ivy /agents-init/ivy/")?;
    ensure!(
        modes.lines().collect::<Vec<_>>() == ["700 root", "700 ivy", "700 ivy"],
        "modes: {modes}"
    );
    let again = t.sh(&format!("townhall init --config {dir}"))?;
    ensure!(again.contains("nothing to do"), "a second init: {again}");
    t.sh(&format!("townhall reset --yes --config {dir} --by test"))?;
    // Its reset's retired round too: the running daemon is another town's and leaves it.
    t.sh("for r in /town/@init.retired-*; do [ -d \"$r\" ] || continue; btrfs subvolume delete \"$r\"/ivy \"$r\" >/dev/null; done")?;
    t.sh("btrfs subvolume delete /town/@init/ivy /town/@init /town/@init-blank >/dev/null && rm -rf /agents-init /persist-init /var/lib/townhall-init && userdel ivy")?;
    Ok(())
}

/// What /persist holds: path, owner, group, mode, size — must not change across resets.
fn persist_listing(t: &Town) -> anyhow::Result<String> {
    t.sh("find /persist -printf '%p %u %g %m %s\\n' | sort")
}

pub fn a_reset_keeps_only_what_is_persisted(t: &Town) -> anyhow::Result<()> {
    as_ok(
        t,
        "ada",
        "cd ~ && echo scratch > scratch.txt && echo kept > work/kept.txt && echo 'make flash' >> .bash_history \
         && btrfs subvolume create mysub >/dev/null && echo inner > mysub/file",
    )?;
    let before = persist_listing(t)?;
    let start = round(t)?;
    for i in 1..=3 {
        let out = t.sh("townhall reset --yes --by test --json")?;
        let report: serde_json::Value = serde_json::from_str(&out).context("reset --json")?;
        ensure!(
            report["round"] == start + i,
            "round after reset {i}: {report}"
        );
        let kept = as_ok(t, "ada", "cat ~/work/kept.txt")?;
        ensure!(
            kept.trim() == "kept",
            "after reset {i}, work/kept.txt: {kept}"
        );
    }
    let gone = as_ok(t, "ada", "ls -A ~")?;
    ensure!(
        !gone.contains("scratch.txt") && !gone.contains("mysub"),
        "still in ada's home: {gone}"
    );
    let hist = as_ok(t, "ada", "cat ~/.bash_history")?;
    ensure!(
        hist.contains("make flash"),
        "the persisted file lost its content: {hist}"
    );
    let after = persist_listing(t)?;
    ensure!(
        before == after,
        "/persist changed:\nbefore:\n{before}\nafter:\n{after}"
    );
    let audit = t.sh("tail -n 1 /var/lib/townhall/audit.log")?;
    ensure!(
        audit.contains("\"by\":\"test\"") && audit.contains(".bash_history"),
        "audit: {audit}"
    );
    Ok(())
}

pub fn secrets_land_with_their_owner_and_mode(t: &Town) -> anyhow::Result<()> {
    let st = t.sh("stat -c '%a %U' /agents/ada/.ssh/id_ed25519")?;
    ensure!(st.trim() == "400 ada", "ada's key: {st}");
    let mine = as_ok(t, "ada", "cat ~/.ssh/id_ed25519")?;
    ensure!(mine.contains("ada-ssh-key"), "ada reads: {mine}");
    let theirs = t.as_user("vox", "cat /agents/ada/.ssh/id_ed25519");
    ensure!(!theirs.status.success(), "vox read ada's key");
    let source = t.as_user("ada", "cat /run/secrets/townhall/ada-ssh-key");
    ensure!(!source.status.success(), "ada read the secret's source");
    Ok(())
}

/// A reset with `dir` must fail with `want` in its error and touch nothing.
fn refuses(t: &Town, dir: &str, want: &str) -> anyhow::Result<()> {
    as_ok(t, "ada", "echo still-here > ~/marker")?;
    let before = (round(t)?, persist_listing(t)?);
    let out = t.exec(&["townhall", "reset", "--yes", "--config", dir]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(!out.status.success(), "reset with {dir} succeeded");
    ensure!(
        stderr.contains(want) && stderr.contains("nothing was changed"),
        "reset with {dir} said:\n{stderr}"
    );
    ensure!(
        as_ok(t, "ada", "cat ~/marker")?.trim() == "still-here",
        "the refused reset removed files"
    );
    ensure!(
        (round(t)?, persist_listing(t)?) == before,
        "the refused reset changed the round or /persist"
    );
    Ok(())
}

pub fn reset_refuses_unsafe_layouts_and_changes_nothing(t: &Town) -> anyhow::Result<()> {
    t.sh("mkdir -p /town/plain-live && ln -sfn / /town/rootlink && ln -sfn /town/@agents/keep /persist-link")?;
    let plain = variant(
        t,
        "plain",
        r#"-e 's|^live = .*|live = "plain-live"|' -e 's|^agents = .*|agents = "/town/plain-live"|'"#,
    )?;
    refuses(t, &plain, "is not a btrfs subvolume")?;
    let root = variant(
        t,
        "root",
        r#"-e 's|^live = .*|live = "rootlink"|' -e 's|^agents = .*|agents = "/town/rootlink"|'"#,
    )?;
    refuses(t, &root, "resolves to /, the root filesystem")?;
    let blank = variant(
        t,
        "noblank",
        r#"-e 's|^blank = .*|blank = "@no-such-blank"|'"#,
    )?;
    refuses(t, &blank, "does not exist")?;
    let persist = variant(
        t,
        "persist",
        r#"-e 's|^persist = .*|persist = "/persist-link"|'"#,
    )?;
    refuses(t, &persist, "inside the live subvolume")?;
    // Lexically inside agents: the config check already refuses it.
    let lexical = variant(
        t,
        "lexical",
        r#"-e 's|^persist = .*|persist = "/agents/persist"|'"#,
    )?;
    refuses(t, &lexical, "which every reset levels")?;
    t.sh("rmdir /town/plain-live; rm -f /town/rootlink /persist-link")?;
    Ok(())
}

pub fn a_reboot_resets_before_the_supervisor_starts(t: &Town) -> anyhow::Result<()> {
    as_ok(t, "ada", "echo gone > ~/before-reboot")?;
    let before = round(t)?;
    t.reboot()?;
    ensure!(
        round(t)? == before + 1,
        "round {} after reboot, was {before}",
        round(t)?
    );
    ensure!(
        !t.as_user("ada", "test -e ~/before-reboot").status.success(),
        "the reboot did not reset ada's home"
    );
    let ts = |unit: &str, prop: &str| -> anyhow::Result<u64> {
        let v = t.sh(&format!("systemctl show -P {prop} {unit}"))?;
        v.trim()
            .parse()
            .with_context(|| format!("{unit} {prop} = {v:?}"))
    };
    let reset_done = ts("townhall-reset", "ExecMainExitTimestampMonotonic")?;
    let serve_start = ts("townhall", "ExecMainStartTimestampMonotonic")?;
    ensure!(
        reset_done > 0 && reset_done <= serve_start,
        "reset finished at {reset_done}, townhall started at {serve_start}"
    );
    Ok(())
}

/// Old rounds (`@agents.retired-*`) on the volume, as `ls` sees them.
fn retired_on_disk(t: &Town) -> anyhow::Result<Vec<String>> {
    Ok(t.sh("ls /town | grep '^@agents.retired-' || true")?
        .lines()
        .map(String::from)
        .collect())
}

fn wait_none_retired(t: &Town, after: &str) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !retired_on_disk(t)?.is_empty() {
        ensure!(
            std::time::Instant::now() < deadline,
            "{after}: still on the volume: {:?}",
            retired_on_disk(t)?
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Ok(())
}

pub fn the_old_round_is_retired_and_deleted_in_the_background(t: &Town) -> anyhow::Result<()> {
    t.sh("systemctl start townhall")?;
    // A nested subvolume in the old round goes with it.
    as_ok(
        t,
        "ada",
        "cd ~ && btrfs subvolume create deep >/dev/null && echo x > deep/f",
    )?;
    let out = t.sh("townhall reset --yes --by retire-test 2>&1")?;
    ensure!(
        out.contains("retired to /town/@agents.retired-"),
        "the reset did not retire the old round: {out}"
    );
    wait_none_retired(t, "the daemon after a reset")?;
    ensure!(
        t.sh("btrfs subvolume list /town")?
            .lines()
            .all(|l| !l.contains("deep")),
        "the nested subvolume survived"
    );
    // No daemon: the CLI deletes the old round itself, after the new one is in place.
    t.sh("systemctl stop townhall")?;
    let out = t.sh("townhall reset --yes --by retire-test 2>&1")?;
    ensure!(
        out.contains("deleted /town/@agents.retired-"),
        "without a daemon: {out}"
    );
    ensure!(
        retired_on_disk(t)?.is_empty(),
        "left behind without a daemon"
    );
    // One that is still there (a deletion cut short) shows in status, and the next start deletes it.
    // (After the start's own deleter is done: it would take it at once.)
    t.sh("systemctl start townhall")?;
    wait_none_retired(t, "the daemon start")?;
    std::thread::sleep(std::time::Duration::from_secs(1));
    t.sh("btrfs subvolume create /town/@agents.retired-00000000000000000001 >/dev/null")?;
    let status = t.sh("townhall status")?;
    ensure!(
        status.contains("old round(s) still being deleted")
            && status.contains("@agents.retired-00000000000000000001"),
        "status: {status}"
    );
    t.sh("systemctl restart townhall")?;
    wait_none_retired(t, "the next daemon start")
}

/// `townhall reset` first says what each resident would lose; without a terminal to answer
/// or `--yes`, it changes nothing.
pub fn a_cli_reset_says_what_is_lost_and_needs_a_yes(t: &Town) -> anyhow::Result<()> {
    let before = round(t)?;
    as_ok(
        t,
        "ada",
        "head -c 3000 /dev/zero > ~/outside-before-reset.bin",
    )?;
    let out = t.exec(&["sh", "-c", "townhall reset --by test </dev/null"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && stderr.contains("not confirmed; nothing was changed"),
        "an unconfirmed reset: {}\n{stderr}",
        out.status
    );
    ensure!(
        stderr.contains("outside-before-reset.bin (2.9 KiB)"),
        "the reset did not say what it would lose:\n{stderr}"
    );
    ensure!(round(t)? == before, "the unconfirmed reset ended the round");
    ensure!(
        as_ok(t, "ada", "test -e ~/outside-before-reset.bin && echo kept")?.contains("kept"),
        "the unconfirmed reset removed files"
    );
    Ok(())
}

/// A lost or garbled round counter is an error that names the file, never round 0 (which
/// would number the next round 1 again and merge two rounds' spending); the daemon's start
/// repairs it from the live round's own marker.
pub fn a_garbled_round_counter_is_named_and_the_next_start_repairs_it(
    t: &Town,
) -> anyhow::Result<()> {
    t.sh("systemctl start townhall")?;
    t.sh("townhall reset --yes --by counter-test >/dev/null")?;
    let live = round(t)?;
    ensure!(live > 0, "no round after a reset");
    t.sh("printf 'garbled' > /var/lib/townhall/round")?;
    let status = t.sh("townhall status 2>&1; echo rc=$?")?;
    ensure!(
        status.contains("/var/lib/townhall/round holds \"garbled\"")
            && status.contains("help: write the round")
            && !status.trim_end().ends_with("rc=0"),
        "status with a garbled counter: {status}"
    );
    // A reset first recovers: it records the live round's marker, and numbers on from it.
    let reset = t.sh("townhall reset --yes --by counter-test 2>&1")?;
    ensure!(
        reset.contains(&format!("round {live} was in place but not recorded"))
            && reset.contains(&format!("round {} begins", live + 1)),
        "a reset on a garbled counter: {reset}"
    );
    let live = live + 1;
    t.sh("rm /var/lib/townhall/round")?;
    let status = t.sh("townhall status 2>&1; echo rc=$?")?;
    ensure!(
        status.contains("/var/lib/townhall/round is missing"),
        "status with no counter after rounds: {status}"
    );
    // The start recovers after it is ready (status answers meanwhile): wait for it.
    t.sh("systemctl restart townhall")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while t
        .sh("cat /var/lib/townhall/round 2>/dev/null || true")?
        .trim()
        != live.to_string()
    {
        ensure!(
            std::time::Instant::now() < deadline,
            "the start did not record round {live} from the marker"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Ok(())
}
