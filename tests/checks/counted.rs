//! Usage counted at the gate (issue 22, part 3): what ada's model calls used is read by the
//! gate from the upstream's answers and recorded in root's ledger, priced by `[[gate.price]]`,
//! whatever her side prints (here: nothing at all, a raw call with no CLI). Once her round's
//! budget is spent, the gate refuses her next call in words and sends nothing upstream, her
//! room hears it, and her next turn does not start.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure};

use crate::checks::chat::{block_on, room_with};
use crate::checks::clis::OnCli;
use crate::checks::gate::{free_port, gate_with, raw_call, serving};
use crate::support::rooms::AdaRooms;
use crate::support::standin::{Api, StandIn};
use crate::support::town::Town;

/// The stand-in answers every call with 11 input and 5 output tokens; at these prices
/// (dollars per million) that is 11 × 1000 + 5 × 2000 = 21000 micro-dollars.
const PRICES: &str = "\n[[gate.price]]\nmodel = \"stand-in\"\ninput = 1000.0\noutput = 2000.0\n";
const ADA: &str = "@ada:town.test";
const CALL: &str =
    r#"{"model":"stand-in-model","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}"#;

/// ada's spending this round, as `townhall status --json` shows it.
fn ada_spent(t: &Town) -> anyhow::Result<serde_json::Value> {
    crate::checks::costs::spent(t, "ada")
}

fn tokens(spent: &serde_json::Value) -> u64 {
    spent["input_tokens"].as_u64().unwrap_or(0) + spent["output_tokens"].as_u64().unwrap_or(0)
}

/// Every call `api` answered is in `who`'s spending since `before`, as the upstream said
/// it (`per_call` tokens each, from OpenAI's completed event or Gemini's usageMetadata):
/// read by the gate, not printed by the CLI.
pub(crate) fn counted_as_said(
    t: &Town,
    who: &str,
    before: &serde_json::Value,
    api: &StandIn,
    per_call: u64,
) -> anyhow::Result<()> {
    let calls = api
        .requests()
        .iter()
        .filter(|(path, _)| {
            // `:generateContent` (gemini's router) and `:streamGenerateContent` (its turns).
            path.ends_with("/responses") || path.to_lowercase().contains("generatecontent")
        })
        .count() as u64;
    ensure!(calls > 0, "{who} made no model call");
    let want = tokens(before) + calls * per_call;
    let deadline = Instant::now() + Duration::from_secs(10);
    let now = loop {
        let now = crate::checks::costs::spent(t, who)?;
        if tokens(&now) >= want || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let paths: Vec<String> = api.requests().into_iter().map(|(p, _)| p).collect();
    ensure!(
        tokens(&now) == want,
        "{who}'s {calls} call(s) of {per_call} tokens were counted as {} tokens; it asked {paths:?}",
        tokens(&now) - tokens(before)
    );
    Ok(())
}

pub fn a_spent_budget_stops_ada_at_the_gate_whatever_she_prints(t: &Town) -> anyhow::Result<()> {
    let api = StandIn::start(Api::Anthropic)?;
    let port = free_port()?;
    let _gated = gate_with(t, port, api.port, PRICES)?;
    // Her budget: what she spent this round so far, and ten tokens more.
    let start = ada_spent(t)?;
    let budget = tokens(&start) + 10;
    let toml = crate::checks::gate::ada_on_anthropic()?;
    let toml = format!("{toml}\n[budget]\ntokens = {budget}\n");
    let env_file = "/run/secrets/townhall/ada-anthropic.env";
    let _on = OnCli::set(t, "ada", &toml, env_file, "", String::from("/nonexistent"))?;
    serving(t, port)?;

    // One call, with no CLI to print anything: the gate counts what the upstream said.
    let answered = raw_call(t, "ada", port, CALL)?;
    if !answered.starts_with("HTTP/1.1 200") {
        let log = t.journal(&["-u", "townhall-gate.service", "--no-pager", "-n", "30"]);
        bail!("ada's call was not answered: {answered}\nthe gate's journal:\n{log}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let spent = loop {
        let now = ada_spent(t)?;
        if tokens(&now) >= tokens(&start) + 16 {
            break now;
        }
        if Instant::now() > deadline {
            let log = t.journal(&["-u", "townhall-gate.service", "--no-pager", "-n", "20"]);
            bail!(
                "the call was never counted: ada's spending stays {now}\nthe gate's journal:\n{log}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    ensure!(
        tokens(&spent) == tokens(&start) + 16,
        "the gate counted {} tokens for one call of 16",
        tokens(&spent) - tokens(&start)
    );
    let cost =
        spent["cost_usd"].as_f64().unwrap_or(0.0) - start["cost_usd"].as_f64().unwrap_or(0.0);
    ensure!(
        (cost - 0.021).abs() < 1e-9,
        "one call at the declared prices cost ${cost}, not $0.021"
    );

    // Spent: the next call is refused in words, nothing goes upstream, and her room hears.
    let before = api.keys().len();
    block_on(async {
        let (mayor, room) = room_with(t, "ada's budget", &[ADA], false).await?;
        let _rooms = AdaRooms::set(t, &room)?;
        let refused = raw_call(t, "ada", port, CALL)?;
        ensure!(
            refused.starts_with("HTTP/1.1 403") && refused.contains("of this round's budget of"),
            "ada's call past her budget was not refused: {refused}"
        );
        ensure!(
            api.keys().len() == before,
            "a call past the budget went upstream"
        );
        mayor
            .wait_for(&room, ADA, "the gate refuses its model calls")
            .await?;
        anyhow::Ok(())
    })?;
    let turn = t.sh("townhall turn --conversation counted ada 'one more?' 2>&1; true")?;
    ensure!(
        turn.contains("of this round's budget of"),
        "ada's next turn was not stopped: {turn}"
    );
    Ok(())
}
