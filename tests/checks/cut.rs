//! The gate killed in the middle of an answer (issue 22): ada's real claude is halfway
//! through a streamed answer when PID 1's `systemctl kill` ends townhall-gate.service
//! outright. The gate comes back by itself (Restart=always); claude asks again and its turn
//! is answered; with its retries off, the turn ends in words instead of hanging; either way
//! the next turn is answered through the new gate.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};

use crate::checks::clis::OnCli;
use crate::checks::gate::{free_port, gate, serving};
use crate::support::standin::{ASK_STALL, Api, GREETING, StandIn};
use crate::support::town::Town;

const UNIT: &str = "townhall-gate.service";
const ENV_FILE: &str = "/run/secrets/townhall/ada-anthropic.env";

fn main_pid(t: &Town) -> anyhow::Result<u32> {
    Ok(t.sh(&format!("systemctl show -p MainPID --value {UNIT}"))?
        .trim()
        .parse()?)
}

/// ada's turn asking for `prompt`, with the gate killed once its answer has stalled
/// halfway; what the turn printed, and its exit status after `exit=`. Waits for the gate
/// to be back.
fn killed_halfway(t: &Town, api: &StandIn, port: u16, prompt: &str) -> anyhow::Result<String> {
    let killed = main_pid(t)?;
    let stalled = api.stalls().0;
    let out = std::thread::scope(|s| -> anyhow::Result<String> {
        let turn = s.spawn(|| {
            t.sh(&format!(
                "townhall turn --conversation cut-{killed} ada '{prompt}' 2>&1; echo exit=$?"
            ))
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while api.stalls().0 == stalled {
            if turn.is_finished() || Instant::now() > deadline {
                let out = turn.join().expect("the turn's thread")?;
                bail!(
                    "the answer never began through the gate: {out}\nthe stand-in got: {}",
                    api.summary()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        t.sh(&format!("systemctl kill --signal=SIGKILL {UNIT}"))?;
        turn.join().expect("the turn's thread")
    })?;
    let (now_stalled, closed) = api.stalls();
    ensure!(
        now_stalled == stalled + 1 && closed == now_stalled,
        "the stalled answer's connection outlived the gate: {now_stalled} stalled, {closed} closed"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while [killed, 0].contains(&main_pid(t)?) {
        if Instant::now() > deadline {
            bail!("the gate did not come back after it was killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    serving(t, port)?;
    Ok(out)
}

pub fn a_gate_killed_mid_stream_ends_the_turn_in_words_and_comes_back(
    t: &Town,
) -> anyhow::Result<()> {
    let api = StandIn::start(Api::Anthropic)?;
    let port = free_port()?;
    let _gated = gate(t, port, api.port)?;
    let toml = crate::checks::gate::ada_on_anthropic()?;
    let _on = OnCli::set(t, "ada", &toml, ENV_FILE, "", String::from("/nonexistent"))?;
    serving(t, port)?;

    // claude asks again when an answer breaks off: the restarted gate answers it.
    let prompt = format!("{ASK_STALL}: retried");
    let out = killed_halfway(t, &api, port, &prompt)?;
    ensure!(
        out.contains(GREETING) && out.contains("exit=0"),
        "claude's turn did not come through the gate's restart: {out}"
    );
    let asked = api
        .requests()
        .iter()
        .filter(|(_, r)| r.to_string().contains(&prompt) && r["stream"] == true)
        .count();
    ensure!(asked >= 2, "claude never asked again: {asked} call(s)");

    // With its retries off, the cut answer ends the turn, in words.
    t.sh(&format!(
        "printf 'CLAUDE_CODE_MAX_RETRIES=0\\n' > {ENV_FILE} && townhall reload"
    ))?;
    let out = killed_halfway(t, &api, port, &format!("{ASK_STALL}: cut"))?;
    ensure!(
        !out.contains(GREETING) && !out.contains("exit=0"),
        "a turn cut in the middle ended as if all was well: {out}"
    );
    // claude says "API Error: Connection refused — a firewall or proxy may be blocking it".
    ensure!(
        out.contains("API Error"),
        "the cut turn ended without saying so: {out}"
    );

    // The next turn is answered through the new gate.
    let next = t.sh("townhall turn --conversation cut-after ada 'are you there?' 2>&1")?;
    ensure!(
        next.contains(GREETING),
        "the turn after the gate came back was not answered: {next}"
    );
    Ok(())
}
