//! The gate in the real town (issue 22, its first part): ada's real claude reaches its model
//! API (a stand-in on loopback) through townhall-gate.service, which runs as its own user
//! with the key as its only credential (root names it in the unit's drop-in at `reload`).
//! The stand-in gets the real key and never the placeholder; ada can read the key nowhere
//! she can reach; vox, with no API, gets words and no answer.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use crate::checks::clis::OnCli;
use crate::support::standin::{Api, GREETING, StandIn};
use crate::support::town::{Town, repo};

const KEY: &str = "sk-ant-the-towns-real-key";
const KEY_FILE: &str = "/etc/townhall/gate/anthropic.key";
const UNIT: &str = "townhall-gate.service";

/// town.toml with a [gate] section, the key, and the gate running; all undone when dropped.
pub(crate) struct Gated<'a> {
    t: &'a Town,
    town_toml: String,
}

impl Drop for Gated<'_> {
    fn drop(&mut self) {
        let path = self.t.run.join("root/etc/townhall/town.toml");
        let _ = std::fs::write(path, &self.town_toml);
        let _ = self.t.sh("rm -rf /etc/townhall/gate; townhall reload");
    }
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Declare the gate on `port` with the stand-in behind it, deploy the key (root's alone).
pub(crate) fn gate(t: &Town, port: u16, upstream: u16) -> anyhow::Result<Gated<'_>> {
    gate_with(t, port, upstream, "")
}

/// `gate`, with `more` (e.g. `[[gate.price]]` tables) after the API.
pub(crate) fn gate_with<'a>(
    t: &'a Town,
    port: u16,
    upstream: u16,
    more: &str,
) -> anyhow::Result<Gated<'a>> {
    let path = t.run.join("root/etc/townhall/town.toml");
    let town_toml = std::fs::read_to_string(&path)?;
    let guard = Gated {
        t,
        town_toml: town_toml.clone(),
    };
    let section = format!(
        "\n[gate]\nlisten = \"127.0.0.1:{port}\"\n\n[[gate.api]]\nname = \"anthropic\"\nupstream = \"http://127.0.0.1:{upstream}\"\nkey = \"x-api-key\"\ncredential = \"{KEY_FILE}\"\n"
    );
    std::fs::write(&path, format!("{town_toml}{section}{more}"))?;
    t.sh(&format!(
        "install -d -m 0700 /etc/townhall/gate && printf %s {KEY} > {KEY_FILE} && chmod 0600 {KEY_FILE}"
    ))?;
    Ok(guard)
}

/// ada's shipped file (the real claude) with `api = "anthropic"`: her model calls go
/// through the gate.
pub(crate) fn ada_on_anthropic() -> anyhow::Result<String> {
    Ok(
        std::fs::read_to_string(repo().join("residents/ada.toml"))?.replace(
            "kind = \"claude\"",
            "kind = \"claude\"\napi = \"anthropic\"",
        ),
    )
}

/// Wait until the gate, restarted by the reload with its new credential, serves on `port`
/// (the reload that set it up has returned: root has told PID 1).
pub(crate) fn serving(t: &Town, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    // `townhall reload` returns once root has told PID 1; the gate's restart job may still
    // be queued, and until it has run the old process may hold the port.
    let ready = || -> anyhow::Result<bool> {
        let pending = t.sh(&format!("systemctl list-jobs --no-legend {UNIT}"))?;
        let listening = t.sh(&format!("ss -Hltn 'sport = :{port}'"))?;
        Ok(pending.trim().is_empty() && listening.contains(&port.to_string()))
    };
    while !ready()? {
        if Instant::now() > deadline {
            let log = t.journal(&["-u", UNIT, "--no-pager", "-n", "20"]);
            anyhow::bail!("the gate never listened on {port}:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

pub fn ada_reaches_claude_through_the_gate_and_never_holds_the_key(t: &Town) -> anyhow::Result<()> {
    let api = StandIn::start(Api::Anthropic)?;
    let port = free_port()?;
    let _gated = gate(t, port, api.port)?;
    // ada on the real claude, her shipped file with `api` added and an empty environment
    // file: the only key her turn gets is townhall's placeholder.
    let toml = ada_on_anthropic()?;
    let env_file = "/run/secrets/townhall/ada-anthropic.env";
    let _on = OnCli::set(t, "ada", &toml, env_file, "", String::from("/nonexistent"))?;
    serving(t, port)?;
    let user = t.sh(&format!("systemctl show -p User --value {UNIT}"))?;
    ensure!(user.trim() == "townhall-gate", "the gate runs as {user:?}");

    answers_with_the_real_key_alone(t, "ada", &api, &format!("x-api-key: {KEY}"))?;

    // Nowhere ada can read holds the key: not the file, her home, the shared temporary
    // and run directories, or any process environment she can see.
    let cat = t.as_user("ada", &format!("cat {KEY_FILE}"));
    ensure!(!cat.status.success(), "ada read the key file");
    let found = t.as_user(
        "ada",
        &format!(
            "grep -rlsF {KEY} /agents/ada /persist/ada /tmp /var/tmp /dev/shm /run 2>/dev/null; \
             for e in /proc/[0-9]*/environ; do grep -lsF {KEY} $e 2>/dev/null; done; true"
        ),
    );
    let found = String::from_utf8_lossy(&found.stdout);
    ensure!(found.trim().is_empty(), "ada can read the key in: {found}");

    // vox has no API: the gate answers with words, and sends nothing upstream.
    let before = api.keys().len();
    let asked = raw_call(t, "vox", port, "{}")?;
    ensure!(
        asked.starts_with("HTTP/1.1 403") && asked.contains("is not a resident with a model API"),
        "vox was not refused: {asked}"
    );
    ensure!(
        api.keys().len() == before,
        "vox's request went upstream: {:?}",
        api.keys()
    );
    Ok(())
}

/// A raw model call as `user`, as any process of theirs could send it (bash's /dev/tcp),
/// with the placeholder key and no CLI to print anything: the gate's whole answer.
pub(crate) fn raw_call(t: &Town, user: &str, port: u16, body: &str) -> anyhow::Result<String> {
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port}\n\
         printf 'POST /v1/messages HTTP/1.1\\r\\nHost: gate\\r\\nx-api-key: townhall-gate-placeholder\\r\\n\
         anthropic-version: 2023-06-01\\r\\ncontent-type: application/json\\r\\n\
         Content-Length: {}\\r\\nConnection: close\\r\\n\\r\\n%s' '{body}' >&3\n\
         cat <&3\n",
        body.len()
    );
    let file = format!("/run/ask-the-gate-{user}.sh");
    t.sh(&format!(
        "cat > {file} <<'EOF'\n{script}EOF\nchmod 0644 {file}"
    ))?;
    let asked = t.as_user(user, &format!("bash {file}"));
    t.sh(&format!("rm -f {file}"))?;
    Ok(String::from_utf8_lossy(&asked.stdout).into_owned())
}

/// codex (ada) and gemini (vox), the real pinned CLIs, through the gate: each stand-in gets
/// its API's real key in that API's own header, and never a placeholder; what each call
/// used is counted as the stand-in said it.
pub fn codex_and_gemini_answer_through_the_gate_and_never_hold_their_keys(
    t: &Town,
) -> anyhow::Result<()> {
    let (openai, gemini) = (StandIn::start(Api::OpenAi)?, StandIn::start(Api::Gemini)?);
    let anthropic = StandIn::start(Api::Anthropic)?;
    let port = free_port()?;
    let more = format!(
        "\n[[gate.api]]\nname = \"openai\"\nupstream = \"http://127.0.0.1:{}/v1\"\nkey = \"bearer\"\ncredential = \"/etc/townhall/gate/openai.key\"\n\
         \n[[gate.api]]\nname = \"gemini\"\nupstream = \"http://127.0.0.1:{}\"\nkey = \"x-goog-api-key\"\ncredential = \"/etc/townhall/gate/gemini.key\"\n",
        openai.port, gemini.port
    );
    let _gated = gate_with(t, port, anthropic.port, &more)?;
    t.sh(&format!(
        "printf %s {OPENAI_KEY} > /etc/townhall/gate/openai.key && printf %s {GEMINI_KEY} > /etc/townhall/gate/gemini.key && chmod 0600 /etc/townhall/gate/*.key"
    ))?;
    let ada = std::fs::read_to_string(repo().join("residents/ada.toml"))?
        .lines()
        .filter(|l| !l.starts_with("argv = "))
        .map(|l| match l {
            "kind = \"claude\"" => "kind = \"codex\"\napi = \"openai\"".to_string(),
            l => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let vox = std::fs::read_to_string(repo().join("residents/vox.toml"))?
        .replace("kind = \"gemini\"", "kind = \"gemini\"\napi = \"gemini\"");
    let ada_env = "/run/secrets/townhall/ada-anthropic.env";
    let vox_env = "/run/secrets/townhall/vox-gemini.env";
    let _ada = OnCli::set(t, "ada", &ada, ada_env, "", String::from("/nonexistent"))?;
    let _vox = OnCli::set(t, "vox", &vox, vox_env, "", String::from("/nonexistent"))?;
    serving(t, port)?;
    // The stand-ins say 111 + 22 tokens per OpenAI call and 33 + 7 per Gemini call.
    for (who, api, want, per_call) in [
        (
            "ada",
            &openai,
            format!("authorization: Bearer {OPENAI_KEY}"),
            133,
        ),
        ("vox", &gemini, format!("x-goog-api-key: {GEMINI_KEY}"), 40),
    ] {
        let before = crate::checks::costs::spent(t, who)?;
        answers_with_the_real_key_alone(t, who, api, &want)?;
        crate::checks::counted::counted_as_said(t, who, &before, api, per_call)?;
    }
    Ok(())
}

const OPENAI_KEY: &str = "sk-proj-the-towns-openai-key";
const GEMINI_KEY: &str = "AIza-the-towns-gemini-key";

/// `who`'s turn through the gate answers, and `api` was sent `want` (the real key in its
/// API's header) and no other key.
fn answers_with_the_real_key_alone(
    t: &Town,
    who: &str,
    api: &StandIn,
    want: &str,
) -> anyhow::Result<()> {
    let out = t
        .sh(&format!(
            "townhall turn --conversation gate-{who} {who} 'hello through the gate' 2>&1"
        ))
        .with_context(|| format!("{who}'s turn through the gate"))?;
    let keys = api.keys();
    let explain = || {
        let log = t.journal(&["-u", UNIT, "--no-pager", "-n", "20"]);
        format!("turn: {out}\nthe stand-in was sent: {keys:?}\nthe gate's journal:\n{log}")
    };
    ensure!(
        out.contains(GREETING),
        "{who}: no answer through the gate: {}",
        explain()
    );
    ensure!(
        !keys.is_empty() && keys.iter().all(|k| k == want),
        "{who}'s stand-in did not get the real key alone: {}",
        explain()
    );
    Ok(())
}
