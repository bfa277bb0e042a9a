//! `[gate]` and a resident's `api`: a good one resolved (the CLI's base URL becomes the
//! gate's), and each mistake located with what to do.

use crate::{Diagnostics, KeyScheme, Town};

const GATE: &str = r#"
[gate]
listen = "127.0.0.1:9447"

[[gate.api]]
name = "gemini"
upstream = "https://generativelanguage.googleapis.com/"
key = "x-goog-api-key"
credential = "/etc/townhall/gate/gemini.key"

[[gate.api]]
name = "openai"
upstream = "https://api.openai.com/v1"
key = "bearer"
credential = "/etc/townhall/gate/openai.key"
"#;

/// The shipped town of vox alone, with `gate` added to town.toml and vox's [agent] given
/// `agent` after its kind.
fn town(gate: &str, agent: &str) -> Result<Town, Diagnostics> {
    crate::testing::vox_town(
        |t| format!("{t}\n{gate}"),
        |v| v.replace("kind = \"gemini\"", &format!("kind = \"gemini\"\n{agent}")),
    )
}

#[test]
fn a_resident_through_the_gate_gets_the_gates_url_and_no_key() {
    let t = town(GATE, "api = \"gemini\"").unwrap();
    assert_eq!(t.gate.listen.to_string(), "127.0.0.1:9447");
    let gemini = t.gate.api("gemini").unwrap();
    assert_eq!(gemini.upstream, "https://generativelanguage.googleapis.com");
    let agent = &t.resident("vox").unwrap().agent;
    assert_eq!(agent.base_url.as_deref(), Some("http://127.0.0.1:9447"));
    assert_eq!(
        agent.api.as_ref().map(|a| (a.name.as_str(), a.key)),
        Some(("gemini", KeyScheme::GoogApiKey))
    );
    let none = town("", "").unwrap();
    assert_eq!(none.gate.listen.to_string(), crate::GATE_LISTEN);
    assert!(none.gate.apis.is_empty() && none.resident("vox").unwrap().agent.api.is_none());
}

#[test]
fn each_mistake_is_located_and_says_what_to_do() {
    let swap = |from: &str, to: &str| GATE.replacen(from, to, 1);
    let table: &[(&str, String, &str, &str)] = &[
        (
            "listening beyond loopback",
            swap("127.0.0.1:9447", "0.0.0.0:9447"),
            "",
            "the gate would listen on 0.0.0.0:9447, which is not loopback",
        ),
        (
            "a key sent in the clear",
            swap("https://generativelanguage", "http://generativelanguage"),
            "",
            "is not an https:// URL",
        ),
        (
            "a key residents can reach",
            swap("/etc/townhall/gate/gemini.key", "/persist/vox/gemini.key"),
            "",
            "residents can reach /persist",
        ),
        (
            "an API declared twice",
            swap("name = \"openai\"", "name = \"gemini\""),
            "",
            "API `gemini` is declared twice",
        ),
        (
            "an API nobody declared",
            GATE.to_string(),
            "api = \"anthropic\"",
            "no [[gate.api]] named `anthropic` in town.toml",
        ),
        (
            "a key the CLI cannot send",
            GATE.to_string(),
            "api = \"openai\"",
            "gemini cannot send its key the way API `openai` takes it (Bearer)",
        ),
        (
            "the gate and a base URL",
            GATE.to_string(),
            "api = \"gemini\"\nbase_url = \"http://127.0.0.1:9\"",
            "`api` and `base_url` are both set",
        ),
    ];
    for (case, gate, agent, want) in table {
        let err = town(gate, agent).unwrap_err().to_string();
        // Located in the file that says it, with line and column.
        let file = if agent.is_empty() {
            "town.toml:"
        } else {
            "vox.toml:"
        };
        let at = err.find(want).map(|i| &err[..i]).unwrap_or_default();
        assert!(err.contains(want) && at.contains(file), "{case}: {err}");
    }
}

const PRICES: &str = r#"
[[gate.price]]
model = "claude-sonnet-4"
input = 3.0
output = 15.0

[[gate.price]]
model = "claude-sonnet-4-5"
input = 1.0
output = 2.0
"#;

#[test]
fn a_model_is_priced_by_the_longest_name_it_begins_with() {
    let t = town(&format!("{GATE}{PRICES}"), "").unwrap();
    let cost = |m: Option<&str>| t.gate.cost(m, 1_000_000, 1_000_000);
    assert_eq!(cost(Some("claude-sonnet-4-20250514")), 18.0);
    assert_eq!(cost(Some("claude-sonnet-4-5-20250929")), 3.0);
    assert_eq!(cost(Some("gpt-5")), 0.0);
    assert_eq!(cost(None), 0.0);
}

#[test]
fn a_bad_price_is_located_and_says_what_to_do() {
    for (case, prices, want) in [
        (
            "negative",
            PRICES.replacen("3.0", "-3.0", 1),
            "-3 is not a price",
        ),
        (
            "twice",
            PRICES.replacen("claude-sonnet-4-5", "claude-sonnet-4", 1),
            "model `claude-sonnet-4` has two prices",
        ),
        (
            "nameless",
            PRICES.replacen("claude-sonnet-4\"", "\"", 1),
            "a price names no model",
        ),
    ] {
        let err = town(&format!("{GATE}{prices}"), "")
            .unwrap_err()
            .to_string();
        let at = err.find(want).map(|i| &err[..i]).unwrap_or_default();
        assert!(
            err.contains(want) && at.contains("town.toml:"),
            "{case}: {err}"
        );
    }
}
