//! The retired round as ada attacks it: last round's home must be out of her reach the
//! moment the new round is in place, and its deletion must never be pointed anywhere else
//! (a nested subvolume deeper than a path lookup reaches, symlinks swapped in meanwhile).

use anyhow::ensure;

use crate::checks::rounds::as_ok;
use crate::support::town::Town;

/// A nested subvolume below a 4 KiB path, one in a read-only subvolume, a file to read back.
const PLANT: &str = r#"cd ~ && echo last-round > secret
btrfs subvolume create sv1 >/dev/null && btrfs subvolume create sv1/sv2 >/dev/null
btrfs subvolume create ro >/dev/null && btrfs subvolume create ro/inner >/dev/null && btrfs property set ro ro true
d=$(printf 'd%.0s' $(seq 200)); mkdir deep && cd deep && for i in $(seq 20); do mkdir $d && cd $d; done
btrfs subvolume create sv >/dev/null && echo x > sv/f && pwd | wc -c"#;

/// As ada, for a while: read and write last round, and swap its directories for symlinks
/// to what must survive. Every success is a line in ~/attack.log.
const ATTACK: &str = r#"cd ~ && : > attack.log; end=$(( $(date +%s) + 12 ))
while [ $(date +%s) -lt $end ]; do
  for r in /town/@agents.retired-*; do
    [ -d "$r" ] || continue
    cat "$r/ada/secret" >/dev/null 2>&1 && echo "read $r/ada/secret" >> attack.log
    echo x 2>/dev/null > "$r/ada/written" && echo "wrote $r/ada/written" >> attack.log
    ls "$r/ada" >/dev/null 2>&1 && echo "listed $r/ada" >> attack.log
    mv "$r/ada/deep" "$r/ada/deep.x" 2>/dev/null && echo "moved $r/ada/deep" >> attack.log
    ln -s /town/@persist "$r/ada/deep" 2>/dev/null && echo "linked $r/ada/deep" >> attack.log
    mv "$r/ada/sv1" "$r/ada/sv1.x" 2>/dev/null && ln -s "$HOME" "$r/ada/sv1" 2>/dev/null && echo "linked $r/ada/sv1" >> attack.log
  done
  sleep 0.05
done; echo done >> attack.log"#;

fn subvolumes(t: &Town) -> anyhow::Result<String> {
    t.sh("btrfs subvolume list -a /town | awk '{print $NF}' | sort")
}

pub fn the_retired_round_is_roots_at_once_and_deleted_by_id(t: &Town) -> anyhow::Result<()> {
    t.sh("systemctl start townhall")?;
    let depth = as_ok(t, "ada", PLANT)?;
    ensure!(
        depth.trim().parse::<usize>()? > 3824,
        "the planted path is only {} bytes",
        depth.trim()
    );
    // Paused once the old round is retired, before anyone deletes it.
    t.sh("TOWNHALL_RESET_PAUSE=retired townhall reset --yes --by retired-test >/tmp/retired.log 2>&1 & echo $! > /tmp/retired.pid; \
          i=0; until grep -q 'paused after retired' /tmp/retired.log || [ $i -ge 300 ]; do sleep 0.1; i=$((i+1)); done; \
          grep -q 'paused after retired' /tmp/retired.log || { cat /tmp/retired.log; exit 1; }")?;
    let mut problems = Vec::new();
    let top = t.sh("stat -c '%U %a' /town/@agents.retired-*")?;
    if !top.lines().all(|l| l == "root 700") {
        problems.push(format!(
            "the retired round is not root's alone: {}",
            top.trim()
        ));
    }
    as_ok(
        t,
        "ada",
        "btrfs subvolume create ~/new-sv >/dev/null && echo kept > ~/new-sv/f",
    )?;
    let before = subvolumes(t)?;
    for want in ["@persist", "@agents", "@agents-blank"] {
        ensure!(
            before
                .lines()
                .any(|l| l.trim_start_matches("<FS_TREE>/") == want),
            "no {want} before: {before}"
        );
    }
    // ada attacks while the paused reset is ended and the daemon deletes the old round.
    let attack = t.as_user("ada", &format!("({ATTACK}) >/dev/null 2>&1 & echo started"));
    ensure!(attack.status.success(), "the attack did not start");
    t.sh("kill -9 $(cat /tmp/retired.pid); systemctl restart townhall")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left = t.sh("ls -d /town/@agents.retired-* 2>/dev/null || true")?;
        if left.trim().is_empty() {
            break;
        }
        if std::time::Instant::now() > deadline {
            problems.push(format!(
                "still there after 30 s: {}\n{}",
                left.trim(),
                t.sh("townhall status 2>&1 || true")?
            ));
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The attack ran its course: its last line is written after every try.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let log = loop {
        let log = as_ok(t, "ada", "cat ~/attack.log")?;
        if log.lines().any(|l| l == "done") || std::time::Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    if log.trim() != "done" {
        let tried: std::collections::BTreeSet<&str> = log.lines().collect();
        problems.push(format!(
            "ada reached last round:\n  {}",
            tried.into_iter().collect::<Vec<_>>().join("\n  ")
        ));
    }
    let after = subvolumes(t)?;
    for want in ["@persist", "@agents", "@agents-blank", "@agents/ada/new-sv"] {
        if !after
            .lines()
            .any(|l| l.trim_start_matches("<FS_TREE>/") == want)
        {
            problems.push(format!("{want} was destroyed"));
        }
    }
    if as_ok(t, "ada", "cat ~/new-sv/f 2>&1 || true")?.trim() != "kept" {
        problems.push("ada's new subvolume lost its file".into());
    }
    ensure!(
        problems.is_empty(),
        "{}\nsubvolumes now:\n{after}",
        problems.join("\n")
    );
    Ok(())
}
