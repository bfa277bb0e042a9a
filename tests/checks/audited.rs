//! The audit log answers questions: `townhall audit` picks a resident's resets since a
//! time, exactly, and `!audit` shows a mayor a resident's last entries in chat.

use anyhow::{Context, ensure};

use crate::checks::chat::{ADA, block_on, room_with};
use crate::support::town::Town;

/// The resets `townhall audit` names for `who` since `since`: each one's `by`.
fn resets_of(t: &Town, who: &str, since: &str) -> anyhow::Result<Vec<String>> {
    let json = t.sh(&format!(
        "townhall audit --resident {who} --kind reset --since {since} --json"
    ))?;
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&json).with_context(|| format!("not JSON: {json}"))?;
    let mut by = Vec::new();
    for e in &entries {
        let residents = &e["detail"]["residents"];
        ensure!(
            e["event"] == "reset" && residents == &serde_json::json!([who]),
            "an entry that is not a reset of {who} alone: {e}"
        );
        by.push(e["detail"]["by"].as_str().unwrap_or_default().to_string());
    }
    Ok(by)
}

pub fn the_audit_log_answers_whose_resets_and_since_when(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    // The log's times are to the second: after a second's pause, every entry an earlier
    // check wrote is in an earlier second than `since`, and this check's are not.
    let since = t
        .sh("sleep 1.1; date -u +%Y-%m-%dT%H:%M:%SZ")?
        .trim()
        .to_string();
    t.sh("townhall reset ada --yes --by audit-probe >/dev/null 2>&1")?;
    t.sh("townhall reset vox --yes --by audit-probe >/dev/null 2>&1")?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada's history", &[ADA], true).await?;
        mayor.say(&room, "!reset").await?;
        mayor.wait_for(&room, ADA, "Reply `!reset yes`").await?;
        mayor.say(&room, "!reset yes").await?;
        mayor.wait_for(&room, ADA, "round").await?;
        mayor.wait_for(&room, ADA, "begins").await?;

        let ada = resets_of(t, "ada", &since)?;
        ensure!(
            ada == ["audit-probe", "@mayor:town.test"],
            "ada's resets since {since}: {ada:?}"
        );
        let vox = resets_of(t, "vox", &since)?;
        ensure!(
            vox == ["audit-probe"],
            "vox's resets since {since}: {vox:?}"
        );
        let bad = t.sh("townhall audit --kind resets 2>&1; echo rc=$?")?;
        ensure!(
            bad.contains("use one of: turn, reset") && !bad.contains("rc=0"),
            "a kind the log does not hold was not refused: {bad}"
        );

        mayor.say(&room, "!audit 10").await?;
        let said = mayor.wait_for(&room, ADA, "ada in the audit log").await?;
        ensure!(
            said.iter()
                .any(|(b, _)| b.contains("ended for ada by @mayor:town.test")),
            "!audit does not show the mayor's reset: {said:?}"
        );
        anyhow::Ok(())
    })
}
