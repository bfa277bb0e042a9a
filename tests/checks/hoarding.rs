//! Root's sockets and pushes as ada hoards them: thousands of connections she opens and
//! never uses, pushes she starts and abandons, a pack bigger than a push may be. Each is
//! capped or ended, and vox, the chat and the town remote go on meanwhile.

use anyhow::ensure;

use crate::checks::chat::{block_on, room_with};
use crate::checks::levelling::install_probes;
use crate::support::town::Town;

const PROBES: &str = "/usr/local/lib/townhall-probes";
const VOX: &str = "@vox:town.test";

/// The sockets of root's a resident can reach, with the most connections each may keep.
const SOCKETS: [(&str, usize); 4] = [
    ("/run/townhall-sign/ada/agent.sock", 16),
    ("/run/townhall-approve.sock", 16),
    ("/run/townhall-push.sock", 2),
    ("/run/townhall-hall.sock", 0),
];

/// A push as `who` in its login shell from a repository of its own in its home (gone at
/// the next reset), so nothing of it ends up in what later checks push from the workspace.
pub(crate) fn push_from_scratch(who: &str, branch: &str, make: &str) -> String {
    format!(
        "[ -r ~/.profile ] && . ~/.profile; rm -rf ~/scratch-{branch} && git init -q ~/scratch-{branch} && cd ~/scratch-{branch} && \
         {make} && git push --receive-pack='townhall push' /srv/townhall/git/work.git HEAD:refs/heads/{who}/{branch} 2>&1"
    )
}

/// As vox in his login shell: a signed commit pushed to his own branch on the town remote.
fn vox_pushes(t: &Town, branch: &str) -> anyhow::Result<()> {
    let out = t.as_user(
        "vox",
        &push_from_scratch(
            "vox",
            branch,
            "date +%s%N > f && git add f && git commit -q -m 'while ada hoards'",
        ),
    );
    ensure!(
        out.status.success(),
        "vox's push: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

pub fn thousands_of_connections_from_ada_are_capped_and_vox_goes_on(
    t: &Town,
) -> anyhow::Result<()> {
    install_probes(t)?;
    t.sh("systemctl start townhall && townhall reset --yes --by hoarding >/dev/null 2>&1")?;
    crate::checks::levelling::ensure_manager(t)?;
    // 3 000 to each socket at once, counted at 3 s and again after every idle limit (10 s).
    let mut hoard = String::from("ulimit -n $(ulimit -Hn); ");
    for (sock, _) in SOCKETS {
        hoard.push_str(&format!(
            "perl {PROBES}/hoard.pl {sock} 3000 3 14 >> ~/hoard.log 2>&1 & "
        ));
    }
    hoard.push_str("wait");
    let started = t.as_user(
        "ada",
        &format!("rm -f ~/hoard.log; ({hoard}) >/dev/null 2>&1 & echo started"),
    );
    ensure!(started.status.success(), "the hoard did not start");
    std::thread::sleep(std::time::Duration::from_secs(2));
    // Meanwhile: vox's turn, the chat, and a push by vox.
    let turn = t.sh("townhall turn vox while ada hoards")?;
    ensure!(turn.contains("resumed"), "vox's turn: {turn}");
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    block_on(async {
        let (mayor, room) = room_with(t, "vox while ada hoards", &[VOX], true).await?;
        mayor.say(&room, &format!("hello vox {nonce}")).await?;
        // A new room: its first answer is this one's.
        mayor.wait_for(&room, VOX, "resumed").await?;
        anyhow::Ok(())
    })?;
    vox_pushes(t, &format!("hoard-{nonce}"))?;
    // The hoard's counts, once its last one is taken.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let log = loop {
        let log = t.sh("cat /agents/ada/hoard.log 2>/dev/null || true")?;
        if log.lines().filter(|l| l.contains("at 14 s")).count() == SOCKETS.len()
            || std::time::Instant::now() > deadline
        {
            break log;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let mut problems = Vec::new();
    for (sock, cap) in SOCKETS {
        // (held, opened) at a time.
        let count = |at: &str| -> Option<(usize, usize)> {
            let l = log
                .lines()
                .find(|l| l.starts_with(&format!("{sock} at {at} s:")))?;
            let words: Vec<&str> = l.split(": ").nth(1)?.split(' ').collect();
            Some((words.first()?.parse().ok()?, words.get(2)?.parse().ok()?))
        };
        match (count("3"), count("14")) {
            (Some((_, opened)), _) if opened < 3000 => {
                problems.push(format!("{sock}: ada opened only {opened} connections"))
            }
            (Some((held, _)), Some((idle, _))) => {
                if held > cap {
                    problems.push(format!(
                        "{sock}: {held} connections held after 3 s (cap {cap})"
                    ));
                }
                if idle > 0 {
                    problems.push(format!(
                        "{sock}: {idle} idle connections still held after 14 s"
                    ));
                }
            }
            _ => problems.push(format!("{sock}: no counts in the hoard's log")),
        }
    }
    ensure!(
        problems.is_empty(),
        "{}\nthe hoard's log:\n{log}",
        problems.join("\n")
    );
    // The daemon is whole: status answers and every listener still takes a connection.
    t.sh("townhall status >/dev/null")?;
    vox_pushes(t, &format!("after-{nonce}"))?;
    Ok(())
}

/// Set `[push]` in the installed town.toml (None: as shipped) and reload.
fn push_limits(t: &Town, limits: Option<&str>) -> anyhow::Result<()> {
    t.sh("sed -i '/^\\[push\\]$/,$d' /etc/townhall/town.toml")?;
    if let Some(l) = limits {
        t.sh(&format!(
            "printf '[push]\\n{l}\\n' >> /etc/townhall/town.toml"
        ))?;
    }
    t.sh("townhall check >/dev/null && townhall reload >/dev/null")?;
    Ok(())
}

/// receive-pack processes and push units left.
fn pushes_left(t: &Town) -> anyhow::Result<String> {
    t.sh("{ pgrep -a -u townhall-git; systemctl list-units --no-legend --plain 'townhall-push-*'; } || true")
}

fn quarantines(t: &Town) -> anyhow::Result<String> {
    t.sh("ls /srv/townhall/git/work.git/objects | grep '^incoming-' || true")
}

pub fn abandoned_and_oversized_pushes_are_ended_and_leave_nothing(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    t.sh("systemctl start townhall && townhall reset --yes --by pushes >/dev/null 2>&1")?;
    push_limits(t, Some("idle = \"5s\"\nmax_size = \"1M\""))?;
    let r = (|| {
        ensure!(
            pushes_left(t)?.trim().is_empty(),
            "pushes running before: {}",
            pushes_left(t)?
        );
        // 50 pushes whose input stays open and silent, their clients killed.
        let out = t.as_user(
            "ada",
            "for i in $(seq 50); do (sleep 600 | townhall push /srv/townhall/git/work.git) >/dev/null 2>&1 </dev/null & done; \
             sleep 2; pkill -u ada -x townhall; echo abandoned",
        );
        ensure!(
            out.status.success(),
            "abandoning pushes: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            !pushes_left(t)?.trim().is_empty(),
            "no push runs after the clients were killed: the check would prove nothing"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !pushes_left(t)?.trim().is_empty() {
            ensure!(
                std::time::Instant::now() < deadline,
                "30 s after 50 abandoned pushes (idle 5 s), still:\n{}",
                pushes_left(t)?
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        // A pack over max_size: refused, no ref, nothing left of it in the repository.
        let before =
            t.sh("git -c safe.directory='*' -C /srv/townhall/git/work.git for-each-ref")?;
        let out = t.as_user(
            "ada",
            &push_from_scratch(
                "ada",
                "big",
                "head -c 3000000 /dev/urandom > big.bin && git add big.bin && git commit -q -m big",
            ),
        );
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            !out.status.success(),
            "a 3 MB push with max_size 1M was accepted: {said}"
        );
        ensure!(
            said.contains("max_size") || said.contains("exceeds maximum allowed size"),
            "the refusal does not say why: {said}"
        );
        ensure!(
            t.sh("git -c safe.directory='*' -C /srv/townhall/git/work.git for-each-ref")? == before,
            "the refused push changed refs"
        );
        ensure!(
            quarantines(t)?.trim().is_empty(),
            "the refused push left {}",
            quarantines(t)?
        );
        ensure!(
            pushes_left(t)?.trim().is_empty(),
            "left after the big push: {}",
            pushes_left(t)?
        );
        Ok(())
    })();
    let _ = t.sh("pkill -u ada -x sleep || true");
    push_limits(t, None)?;
    r
}

/// ada and vox as claude (the stand-in) with an approval rule, for as long as this lives.
struct Askers<'t>(&'t Town);

impl<'t> Askers<'t> {
    fn set(t: &'t Town) -> anyhow::Result<Self> {
        t.sh(
            r#"cd /etc/townhall/residents && cp ada.toml ada.toml.askers && cp vox.toml vox.toml.askers &&
sed -i 's|^kind = "command"|kind = "claude"\napprove = ["Bash(echo guarded*)"]\napprove_timeout = "30s"|' ada.toml &&
sed -i 's|^kind = "claude"|kind = "claude"\napprove = ["Bash(echo guarded*)"]\napprove_timeout = "30s"|' vox.toml &&
townhall check >/dev/null && townhall reload >/dev/null"#,
        )?;
        Ok(Self(t))
    }
}

impl Drop for Askers<'_> {
    fn drop(&mut self) {
        let _ = self.0.sh("townhall turn stop ada >/dev/null 2>&1; cd /etc/townhall/residents && mv ada.toml.askers ada.toml && mv vox.toml.askers vox.toml && townhall reload >/dev/null");
    }
}

/// Questions that were asked (not their edits) in `room`.
async fn questions(
    mayor: &crate::support::mayor::Mayor,
    room: &matrix_sdk::ruma::OwnedRoomId,
    from: &str,
) -> anyhow::Result<usize> {
    Ok(mayor
        .from(room, from)
        .await?
        .iter()
        .filter(|(b, edited)| !edited && b.contains("asks to run `"))
        .count())
}

pub fn twenty_questions_from_one_turn_hold_only_its_cap_and_vox_is_asked_at_once(
    t: &Town,
) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let _askers = Askers::set(t)?;
    let ada = "@ada:town.test";
    block_on(async {
        let (mayor, ada_room) = room_with(t, "ada floods", &[ada], true).await?;
        let (_, vox_room) = room_with(t, "vox asks once", &[VOX], true).await?;
        mayor.say(&ada_room, "askmany 20").await?;
        mayor
            .event_with(&ada_room, ada, "ada asks to run `")
            .await?;
        // Every one of ada's 20 hooks has its answer or waits: the denied ones answer at once.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let denied = loop {
            let n: usize = t.sh("cat /agents/ada/asked-*.out 2>/dev/null | grep -c 'wait for a mayor already' || true")?.trim().parse().unwrap_or(0);
            if n >= 17 || std::time::Instant::now() > deadline {
                break n;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        };
        // vox asks meanwhile: his question is in his room at once, and his ✅ lets it run.
        mayor.say(&vox_room, "askmany 1").await?;
        let asked = std::time::Instant::now();
        let q = mayor
            .event_with(&vox_room, VOX, "vox asks to run `")
            .await?;
        ensure!(
            asked.elapsed() < std::time::Duration::from_secs(15),
            "vox's question took {:?} behind ada's flood",
            asked.elapsed()
        );
        mayor.react(&vox_room, &q, "✅").await?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while !t
            .sh("cat /agents/vox/asked-1.out 2>/dev/null || true")?
            .contains("allow")
        {
            ensure!(
                std::time::Instant::now() < deadline,
                "vox's approved call got no allow: {}",
                t.sh("cat /agents/vox/asked-1.out 2>/dev/null || true")?
            );
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        let posted = questions(&mayor, &ada_room, ada).await?;
        ensure!(
            posted <= 3,
            "{posted} of ada's questions were put to the mayor at once (the cap is 3)"
        );
        ensure!(
            denied >= 17,
            "only {denied} of ada's 20 questions were denied at once over the cap"
        );
        Ok(())
    })
}
