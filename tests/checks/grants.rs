//! Device grants in the real town: host udevd sends real uevents for ttyS0 (bound into the
//! container), townhall sets and revokes POSIX ACL entries on the node.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};

use crate::support::town::Town;

pub const RULE: &str =
    "\n[[device]]\nsubsystem = \"tty\"\nkernel = \"ttyS0\"\npermission = \"rw\"\n";

/// ada.toml as the container sees it, through the harness's view of its root.
pub fn ada_toml(t: &Town) -> std::path::PathBuf {
    t.run.join("root/etc/townhall/residents/ada.toml")
}

/// Can `who` open /dev/ttyS0 for writing (without waiting for a carrier)?
pub fn can_write(t: &Town, who: &str) -> bool {
    let perl =
        r#"use Fcntl; sysopen(my $f, "/dev/ttyS0", O_WRONLY|O_NONBLOCK|O_NOCTTY) or die "$!\n""#;
    t.as_user(who, &format!("perl -e '{perl}'"))
        .status
        .success()
}

/// Wait (up to 10 s) for `who`'s write access to /dev/ttyS0 to become `want`.
pub fn comes_to(t: &Town, who: &str, want: bool) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if can_write(t, who) == want {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "{who} {} open /dev/ttyS0 for writing: {}",
        if want { "still cannot" } else { "can still" },
        t.sh("getfacl -p /dev/ttyS0")?
    )
}

fn ada_can_write(t: &Town, want: bool) -> anyhow::Result<()> {
    comes_to(t, "ada", want)
}

pub fn uevent(action: &str) -> anyhow::Result<()> {
    Ok(std::fs::write("/sys/class/tty/ttyS0/uevent", action)?)
}

/// A host udev rule that rewrites the node's mode on every event, as many distros' do.
struct ModeRule;
const MODE_RULE: &str = "/run/udev/rules.d/99-townhall-test-ttyS0.rules";
impl ModeRule {
    fn install() -> anyhow::Result<Self> {
        std::fs::create_dir_all("/run/udev/rules.d")?;
        std::fs::write(
            MODE_RULE,
            "SUBSYSTEM==\"tty\", KERNEL==\"ttyS0\", MODE=\"0600\"\n",
        )?;
        std::process::Command::new("udevadm")
            .args(["control", "--reload"])
            .status()?;
        Ok(Self)
    }
}
impl Drop for ModeRule {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(MODE_RULE);
        let _ = std::process::Command::new("udevadm")
            .args(["control", "--reload"])
            .status();
    }
}

/// The fixture of every grant check: ada's ttyS0 rule declared (idempotent), the daemon
/// holding it.
pub fn rule_declared(t: &Town) -> anyhow::Result<()> {
    let ada = ada_toml(t);
    let text = std::fs::read_to_string(&ada)?;
    if !text.contains(RULE) {
        std::fs::write(&ada, format!("{text}{RULE}"))?;
        t.sh("townhall check >/dev/null && systemctl start townhall && townhall reload")?;
    }
    t.sh("systemctl start townhall")?;
    ada_can_write(t, true)
}

pub fn a_present_device_is_granted_at_start(t: &Town) -> anyhow::Result<()> {
    rule_declared(t)?;
    t.sh("setfacl -x u:ada /dev/ttyS0 2>/dev/null; systemctl restart townhall")?;
    ada_can_write(t, true)?;
    ensure!(!can_write(t, "vox"), "vox can open ada's serial port");
    let list = t.sh("townhall devices")?;
    ensure!(
        list.contains("/dev/ttyS0") && list.contains("ada (rw, since"),
        "townhall devices: {list}"
    );
    Ok(())
}

pub fn an_add_event_grants_the_device(t: &Town) -> anyhow::Result<()> {
    rule_declared(t)?;
    t.sh("setfacl -x u:ada /dev/ttyS0")?;
    ensure!(!can_write(t, "ada"), "the entry was not removed");
    uevent("add")?;
    ada_can_write(t, true)
}

pub fn a_change_event_whose_rule_resets_the_mode_is_undone(t: &Town) -> anyhow::Result<()> {
    rule_declared(t)?;
    let _rule = ModeRule::install()?;
    // Without townhall, the rule's MODE= on a change event takes the grant away…
    t.sh("systemctl stop townhall && chmod 0660 /dev/ttyS0")?;
    uevent("change")?;
    let start = Instant::now();
    while t.sh("stat -c %a /dev/ttyS0")?.trim() != "600" && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    ensure!(
        t.sh("stat -c %a /dev/ttyS0")?.trim() == "600",
        "udev did not apply MODE=0600"
    );
    ada_can_write(t, false)?;
    // …townhall's start puts it back, and so does it after the next change event.
    t.sh("systemctl start townhall")?;
    ada_can_write(t, true)?;
    uevent("change")?;
    let start = Instant::now();
    let reapplied = || {
        t.journal(&["-u", "townhall", "-o", "cat"])
            .contains("change event: re-applied 1 grant(s) on /dev/ttyS0")
    };
    while !reapplied() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    ensure!(reapplied(), "townhall did not handle the change event");
    ada_can_write(t, true)?;
    let acl = t.sh("getfacl -p /dev/ttyS0")?;
    ensure!(
        acl.contains("user:ada:rw-") && acl.contains("mask::rw-"),
        "{acl}"
    );
    Ok(())
}

pub fn removing_the_rule_revokes_only_townhalls_entry(t: &Town) -> anyhow::Result<()> {
    rule_declared(t)?;
    t.sh("setfacl -m u:vox:r /dev/ttyS0")?; // an entry townhall did not make
    let ada = ada_toml(t);
    let text = std::fs::read_to_string(&ada)?;
    ensure!(text.contains(RULE), "the ttyS0 rule is not in ada.toml");
    std::fs::write(&ada, text.replace(RULE, ""))?;
    t.sh("townhall reload")?;
    ada_can_write(t, false)?;
    let acl = t.sh("getfacl -p /dev/ttyS0")?;
    ensure!(
        acl.contains("user:vox:r--") && !acl.contains("user:ada"),
        "{acl}"
    );
    let audit = t.sh("grep '\"event\":\"device\"' /var/lib/townhall/audit.log")?;
    ensure!(
        audit.contains("Granted") && audit.contains("Revoked"),
        "audit: {audit}"
    );
    t.sh("setfacl -x u:vox /dev/ttyS0")?;
    Ok(())
}

/// `systemctl start townhall` returns once the present devices are granted: ada's entry is
/// on ttyS0 the moment it returns, without waiting (five starts: no luck of timing).
pub fn ready_means_a_present_device_is_granted(t: &Town) -> anyhow::Result<()> {
    rule_declared(t)?;
    for i in 0..5 {
        // (reset-failed: five starts in a row are not a unit failing to start.)
        let acl = t.sh("systemctl stop townhall && systemctl reset-failed townhall && { setfacl -x u:ada /dev/ttyS0 2>/dev/null || true; } && systemctl start townhall && getfacl -p /dev/ttyS0")?;
        ensure!(
            acl.contains("user:ada:rw-"),
            "start {i}: `systemctl start townhall` returned before ada's grant was in place:\n{acl}"
        );
    }
    Ok(())
}
