//! What ada plants where her persisted paths belong (a symlink to /etc, a fifo, a
//! root-owned directory) is quarantined: each reset, from the command line or at boot,
//! moves it aside, builds fresh entries, changes nothing outside /persist/ada, completes,
//! and says what it moved in ada's rooms and in `status`.

use anyhow::ensure;

use crate::checks::levelling::install_probes;
use crate::support::town::Town;

/// Plant a symlink, a fifo and a root-owned directory where ada's persisted paths belong.
fn plant_persist(t: &Town) -> anyhow::Result<()> {
    let out = t.as_user("ada", "cd /persist/ada && rm -rf w && mv work w && ln -s /etc work && rm -rf .claude && mkfifo .claude");
    ensure!(
        out.status.success(),
        "as ada: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.sh("rm -f /persist/ada/.bash_history && mkdir /persist/ada/.bash_history")?;
    Ok(())
}

/// What must not change outside /persist/ada: /etc's owners and modes, and the other homes.
fn outside(t: &Town) -> anyhow::Result<String> {
    t.sh("stat -c '%n %U %a' /etc /etc/shadow /etc/passwd; find /persist -maxdepth 1 -printf '%p %u %m\\n' | sort")
}

fn persist_survives(
    t: &Town,
    how: &str,
    reset: impl FnOnce(&Town) -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    install_probes(t)?;
    plant_persist(t)?;
    let before = outside(t)?;
    let report = reset(t)?;
    ensure!(
        outside(t)? == before,
        "{how} changed something outside /persist/ada:\n{before}\n---\n{}",
        outside(t)?
    );
    let kinds = t.sh(
        "stat -c '%n %F %U' /persist/ada/work /persist/ada/.claude /persist/ada/.bash_history",
    )?;
    for want in [
        "/persist/ada/work directory ada",
        "/persist/ada/.claude directory ada",
        "/persist/ada/.bash_history regular empty file ada",
    ] {
        ensure!(
            kinds.contains(want),
            "after {how}, not a fresh entry: {want}\n{kinds}"
        );
    }
    let q = t.sh("ls -A /persist/ada/ | grep quarantine-round | head -n 1")?;
    let moved = t.sh(&format!("ls -A /persist/ada/{}", q.trim()))?;
    for want in ["work", ".claude", ".bash_history"] {
        ensure!(
            moved.lines().any(|l| l == want),
            "{want} was not quarantined after {how}: {moved}"
        );
    }
    let audit = t.sh("grep '\"event\":\"reset\"' /var/lib/townhall/audit.log | tail -n 1")?;
    ensure!(
        audit.contains("quarantined") && audit.contains("a symlink to /etc"),
        "the audit line does not report it: {audit}"
    );
    ensure!(
        report.contains("moved to") || how == "a reboot",
        "the reset output does not report it: {report}"
    );
    let st = t.sh("stat -c '%a %U' /agents/ada/ /agents/vox/")?;
    ensure!(
        st.lines().collect::<Vec<_>>() == ["700 ada", "700 vox"],
        "homes after {how}: {st}"
    );
    let vox = t.sh("townhall turn vox hello from vox")?;
    ensure!(
        vox.contains("resumed"),
        "vox did not answer after {how}: {vox}"
    );
    t.sh("rm -rf /persist/ada/.quarantine-round-*")?;
    Ok(())
}

pub fn planted_persist_entries_are_quarantined_and_the_reset_completes(
    t: &Town,
) -> anyhow::Result<()> {
    persist_survives(t, "`townhall reset`", |t| {
        t.sh("townhall reset --yes --by probe 2>&1")
    })?;
    persist_survives(t, "a reboot", |t| {
        t.reboot()?;
        t.sh("systemctl is-active townhall-reset.service townhall.service")
    })
}

pub fn what_a_reset_moved_aside_is_told_in_adas_rooms(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let r = crate::checks::chat::block_on(async {
        let (mayor, room) =
            crate::checks::chat::room_with(t, "ada's desk", &["@ada:town.test"], false).await?;
        let _rooms = crate::support::rooms::AdaRooms::set(t, &room)?;
        plant_persist(t)?;
        t.sh("townhall reset --yes --by probe >/dev/null 2>&1")?;
        let msgs = mayor.wait_for(&room, "@ada:town.test", "began").await?;
        let notice = msgs
            .iter()
            .find(|(b, _)| b.contains("began"))
            .map(|(b, _)| b.clone())
            .unwrap_or_default();
        ensure!(
            notice.contains("a symlink to /etc") && notice.contains("moved to"),
            "the notice: {notice}"
        );
        // … and `townhall status` and `!status` say so until the next reset.
        let status = t.sh("townhall status")?;
        ensure!(
            status.contains("last reset: /persist/ada/work was a symlink to /etc"),
            "status: {status}"
        );
        mayor.say(&room, "!status").await?;
        mayor
            .wait_for(&room, "@ada:town.test", "last reset: /persist/ada/work")
            .await?;
        Ok(())
    });
    t.sh("rm -rf /persist/ada/.quarantine-round-*")?;
    r
}
