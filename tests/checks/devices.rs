//! Devices from chat, in the real town: the mayor lists, lends and tails ttyS0 (host udevd's
//! device, bound into the container) from a Matrix room; townhall sets the ACLs and reads
//! the serial line as root.

use std::time::Duration;

use anyhow::ensure;

use crate::checks::chat::{block_on, room_with};
use crate::checks::grants::{can_write, comes_to, rule_declared, uevent};
use crate::support::rooms::AdaRooms;
use crate::support::town::Town;

const ADA: &str = "@ada:town.test";
const VOX: &str = "@vox:town.test";

fn vox_can_write(t: &Town, want: bool) -> anyhow::Result<()> {
    comes_to(t, "vox", want)
}

/// `!devices` names ttyS0 and ada, who holds it by rule; the mayor lends it to vox, who gets
/// the ACL and a notice; `!release` takes it back; a lease that survives a restart still
/// ends on time, with a notice. A friend who is not a mayor cannot lend.
pub fn a_mayor_lends_a_device_from_chat(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    rule_declared(t)?;
    t.sh("rm -f /var/lib/townhall/leases.json; systemctl restart townhall")?;
    vox_can_write(t, false)?;
    block_on(async {
        let (mayor, room) = room_with(t, "the bench", &[ADA, VOX], false).await?;
        let _rooms = AdaRooms::of(t, "vox", &room)?;
        mayor.say(&room, "ada: !devices").await?;
        mayor
            .wait_for(&room, ADA, "`/dev/ttyS0` (tty): ada (rw, since")
            .await?;

        mayor.say(&room, "ada: !lease ttyS0 vox 2h").await?;
        mayor
            .wait_for(&room, ADA, "Leased /dev/ttyS0 to vox until")
            .await?;
        vox_can_write(t, true)?;
        mayor
            .wait_for(&room, VOX, "/dev/ttyS0 is here and granted to vox")
            .await?;
        let list = t.sh("townhall devices")?;
        ensure!(
            list.contains("vox (rw, since") && list.contains("leased until"),
            "townhall devices: {list}"
        );
        mayor.say(&room, "ada: !devices").await?;
        mayor.wait_for(&room, ADA, "vox (rw, leased since").await?;

        mayor.say(&room, "ada: !release ttyS0").await?;
        mayor
            .wait_for(&room, ADA, "Released /dev/ttyS0: the lease to vox ended")
            .await?;
        vox_can_write(t, false)?;
        mayor
            .wait_for(
                &room,
                VOX,
                "The lease of /dev/ttyS0 to vox ended: access revoked",
            )
            .await?;
        ensure!(
            can_write(t, "ada"),
            "releasing vox's lease took ada's rule grant too"
        );

        // A lease on disk outlives a restart, and its end still comes: here in 8 s.
        let until = t.sh("date -u -d '+8 seconds' +%Y-%m-%dT%H:%M:%SZ")?;
        let lease = format!(
            r#"[{{"devnode":"/dev/ttyS0","resident":"vox","by":"@mayor:town.test","since":"2026-01-01T00:00:00Z","until":"{}"}}]"#,
            until.trim()
        );
        // Only the notice of this lease's end counts, not the release's above.
        mayor.mark(&room).await?;
        t.sh(&format!("systemctl stop townhall && echo '{lease}' > /var/lib/townhall/leases.json && systemctl start townhall"))?;
        vox_can_write(t, true)?;
        mayor
            .wait_for(&room, VOX, "The lease of /dev/ttyS0 to vox ended")
            .await?;
        vox_can_write(t, false)?;
        let left = t.sh("cat /var/lib/townhall/leases.json")?;
        ensure!(left.trim() == "[]", "an ended lease stayed on disk: {left}");
        Ok(())
    })
}

/// Put ttyS0's UART in loopback (its MCR LOOP bit) while `script` runs as `who`, so what is
/// written to the line comes back in as if the far end had sent it.
fn looped(t: &Town, who: &str, script: &str) -> anyhow::Result<String> {
    let hold = r#"use Fcntl; sysopen(my $f, "/dev/ttyS0", O_RDWR|O_NONBLOCK|O_NOCTTY) or die "$!"; my $b = pack("I", 0x8000); ioctl($f, 0x5416, $b) or die "TIOCMBIS: $!"; sleep 6; ioctl($f, 0x5417, $b) or die "TIOCMBIC: $!";"#;
    t.sh(&format!(
        "perl -e '{hold}' & hold=$!; sleep 1; runuser -u {who} -- sh -c '{script}'; wait $hold"
    ))
}

/// `!tail ttyS0` streams what arrives on the serial line into a thread under the command,
/// read-only and rate-limited (a flood from a resident holding the device is cut and
/// counted), until `!untail`; a second tail ends when the device goes away.
pub fn a_mayor_tails_a_serial_console_into_a_thread(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    rule_declared(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada's console", &[ADA], true).await?;
        let root = mayor.say(&room, "!tail ttyS0 115200").await?;
        mayor
            .wait_for(&room, ADA, "Tailing /dev/ttyS0 at 115200 baud, read-only")
            .await?;
        // ada holds the device by rule: she is the far end here, and she floods it.
        looped(
            t,
            "ada",
            "printf \"hello from the wire\\n\" > /dev/ttyS0; sleep 2; head -c 20000 /dev/zero | tr \"\\\\0\" x > /dev/ttyS0",
        )?;
        mayor.wait_for(&room, ADA, "hello from the wire").await?;
        let thread = mayor.thread(&room, &root).await?;
        ensure!(
            thread.iter().any(|b| b.contains("hello from the wire")),
            "the console's output is not in the tail's thread: {thread:?}"
        );
        mayor
            .wait_for(&room, ADA, "bytes dropped: more than 3000 in 2 s")
            .await?;
        let batches = mayor
            .thread(&room, &root)
            .await?
            .iter()
            .filter(|b| b.contains("xxxx"))
            .count();
        ensure!(
            (1..=6).contains(&batches),
            "20000 bytes became {batches} messages, not a few capped ones"
        );
        mayor.say(&room, "!untail ttyS0").await?;
        mayor
            .wait_for(&room, ADA, "The tail of ttyS0 ended: stopped")
            .await?;

        mayor.say(&room, "!tail ttyS0").await?;
        mayor
            .wait_for(&room, ADA, "Tailing /dev/ttyS0 at its current rate")
            .await?;
        uevent("remove")?;
        mayor
            .wait_for(&room, ADA, "The tail of ttyS0 ended: the device went away")
            .await?;
        uevent("add")?;
        let audit = t.sh("grep '\"tail\"' /var/lib/townhall/audit.log")?;
        ensure!(
            audit.contains("/dev/ttyS0") && audit.contains("@mayor:town.test"),
            "no audit line for the tail: {audit}"
        );
        Ok(())
    })
}

const PROBES: &str = "/usr/local/lib/townhall-probes";

/// Hold ttyS0 open as `who` in the background, writing; its log is /tmp/held-WHO.log.
fn hold(t: &Town, who: &str) -> anyhow::Result<()> {
    let log = format!("/tmp/held-{who}.log");
    t.sh(&format!("rm -f {log}"))?;
    let out = t.as_user(
        who,
        &format!("(perl {PROBES}/hold.pl {log} 40 &) >/dev/null 2>&1 </dev/null"),
    );
    ensure!(out.status.success(), "{who} could not start holding ttyS0");
    held_says(t, who, "ok")
}

/// Wait (up to 10 s) for `who`'s holder to log a line starting with `what` after what it
/// logged so far.
fn held_says(t: &Town, who: &str, what: &str) -> anyhow::Result<()> {
    let log = format!("/tmp/held-{who}.log");
    let from = t
        .sh(&format!("wc -l < {log} 2>/dev/null || echo 0"))?
        .trim()
        .parse::<usize>()
        .unwrap_or(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = t.sh(&format!("cat {log} 2>/dev/null || true"))?;
        if text.lines().skip(from).any(|l| l.starts_with(what)) {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{who}'s holder never said `{what}`:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What `who`'s holder logged after its first failure: none of it may be a write that went through.
fn dead_after_failing(t: &Town, who: &str) -> anyhow::Result<()> {
    let text = t.sh(&format!("cat /tmp/held-{who}.log"))?;
    let after: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("failed"))
        .collect();
    ensure!(
        after.iter().all(|l| l.starts_with("failed")),
        "{who} wrote again after the hangup:\n{text}"
    );
    Ok(())
}

/// The mayor lends ttyS0 to vox in `room`, vox opens it and writes, the mayor releases it.
async fn lend_hold_release(
    t: &Town,
    mayor: &crate::support::mayor::Mayor,
    room: &matrix_sdk::ruma::OwnedRoomId,
) -> anyhow::Result<()> {
    mayor.say(room, "!lease ttyS0 vox 2h").await?;
    mayor
        .wait_for(room, ADA, "Leased /dev/ttyS0 to vox until")
        .await?;
    vox_can_write(t, true)?;
    hold(t, "vox")?;
    mayor.say(room, "!release ttyS0").await?;
    mayor
        .wait_for(room, ADA, "Released /dev/ttyS0: the lease to vox ended")
        .await?;
    Ok(())
}

/// A descriptor opened while a lease held goes dead when the lease ends: vox's holder is
/// hung up (every later write fails), and he cannot open the port again; ada, who holds
/// it by rule and had it open too, is hung up with him and opens it again at once.
pub fn a_descriptor_opened_during_a_lease_fails_after_release(t: &Town) -> anyhow::Result<()> {
    crate::checks::levelling::install_probes(t)?;
    rule_declared(t)?;
    t.sh("rm -f /var/lib/townhall/leases.json && systemctl restart townhall")?;
    let r = block_on(async {
        let (mayor, room) = room_with(t, "the cut", &[ADA], true).await?;
        hold(t, "ada")?;
        lend_hold_release(t, &mayor, &room).await?;
        held_says(t, "vox", "failed")?;
        held_says(t, "vox", "failed")?;
        dead_after_failing(t, "vox")?;
        vox_can_write(t, false)?;
        ensure!(
            can_write(t, "ada"),
            "ada, who holds it by rule, cannot open it again"
        );
        Ok(())
    });
    let _ = t.sh("pkill -f 'hold[.]pl' || true");
    r
}
