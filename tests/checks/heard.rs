//! A packet sent around the gate is heard (issue 22, part 5): vox's turn runs
//! `curl --noproxy '*'` at a host on "the internet"; the kernel drops it, and vox's room is
//! told at once (address, port, the turn), then not again within the minute. `!network`
//! counts both drops, and shows a mayor every resident's network.

use std::time::{Duration, Instant};

use anyhow::ensure;

use crate::checks::asked::vox_runs;
use crate::checks::chat::{block_on, room_with};
use crate::checks::clis::OnCli;
use crate::checks::gate::{free_port, gate, serving};
use crate::support::internet::{HOST, Internet};
use crate::support::rooms::AdaRooms;
use crate::support::standin::{Api, StandIn};
use crate::support::town::Town;

const VOX: &str = "@vox:town.test";
const SCRIPT: &str = "/usr/local/lib/townhall-probes/around.sh";
const TOLD: &str = "around the gate";

/// vox's turn: the prompt is a path; curl ignores the proxy and goes straight out.
fn around() -> String {
    format!(
        "read -r path\ncurl --noproxy '*' -sS -m 10 \"http://{HOST}/$path\" 2>&1\necho \"around-done $path\"\n"
    )
}

pub fn a_packet_sent_around_the_gate_is_told_once_a_minute_and_listed(
    t: &Town,
) -> anyhow::Result<()> {
    let net = Internet::start()?;
    let api = StandIn::start(Api::Anthropic)?;
    let port = free_port()?;
    let _gated = gate(t, port, api.port)?;
    let (script, toml) = vox_runs(t, SCRIPT, &around())?;
    let env_file = "/run/secrets/townhall/vox-gemini.env";
    let on = OnCli::set(t, "vox", &toml, env_file, "", String::from("/nonexistent"));
    let checked = on.and_then(|_on| {
        serving(t, port)?;
        block_on(async {
            let (mayor, room) = room_with(t, "vox goes around the gate", &[VOX], false).await?;
            let _rooms = AdaRooms::of(t, "vox", &room)?;

            mayor.say(&room, "vox: first").await?;
            let said = mayor.wait_for(&room, VOX, TOLD).await?;
            let first_told = Instant::now();
            let notice = said.iter().find(|(b, _)| b.contains(TOLD)).expect("told");
            ensure!(
                notice.0.contains(&format!("`{HOST} 80/tcp`"))
                    && notice.0.contains("during `townhall-turn-vox"),
                "the notice does not name the address, port and turn: {notice:?}"
            );
            mayor.wait_for(&room, VOX, "around-done first").await?;

            // A second within the minute is counted, and kept for a notice a minute on.
            mayor.say(&room, "vox: second").await?;
            mayor.wait_for(&room, VOX, "around-done second").await?;
            mayor.say(&room, "vox: !network").await?;
            let said = mayor.wait_for(&room, VOX, "dropped by the kernel").await?;
            let report = said
                .iter()
                .find(|(b, _)| b.contains("dropped by the kernel"))
                .expect("the report");
            ensure!(
                report
                    .0
                    .contains(&format!("`{HOST} 80/tcp` dropped by the kernel, 2×")),
                "`!network` does not count both drops: {report:?}"
            );
            ensure!(
                report.0.contains("**vox**") && report.0.contains("**ada**"),
                "a mayor's `!network` does not show every resident: {report:?}"
            );
            // The barrier: root had heard the second drop when it answered `!network`, so
            // a notice of it would have been said before that answer.
            ensure!(
                first_told.elapsed() < Duration::from_secs(55),
                "too slow to tell a held notice from one said at once"
            );
            let told = mayor
                .from(&room, VOX)
                .await?
                .iter()
                .filter(|(b, _)| b.contains(TOLD))
                .count();
            ensure!(
                told == 1,
                "vox's room was told {told} times within a minute"
            );
            anyhow::Ok(())
        })
    });
    let _ = std::fs::remove_file(&script);
    checked?;
    ensure!(
        !net.seen()
            .iter()
            .any(|s| s.contains("/first") || s.contains("/second")),
        "a packet around the gate arrived: {:?}",
        net.seen()
    );
    Ok(())
}
