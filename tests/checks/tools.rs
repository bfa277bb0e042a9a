//! The town's tools over MCP (issue 23): the real claude starts `townhall mcp` as the
//! resident inside its turn, and the stand-in model calls the tools. The mayor's real
//! Matrix client sees the question (mentioning him), answers it with a reaction, and the
//! CLI's next request carries the choice; a device asked for is lent on ✅ (a real ACL)
//! and refused on ❌. As a hostile resident: no token, a stale token, another resident's
//! token and a 10 MB request are refused, and root goes on answering.

use anyhow::{Context, ensure};

use crate::checks::chat::{block_on, room_with};
use crate::checks::clis::OnCli;
use crate::support::standin::{
    ASK_DEVICE, ASK_QUESTION, ASK_TELL, ASK_TOWN, Api, CLAUDE_ENV, QUESTION, StandIn, TOLD,
};
use crate::support::town::{Town, repo};

const VOX: &str = "@vox:town.test";
const PROBES: &str = "/usr/local/lib/townhall-probes";
const SOCKET: &str = "/run/townhall-tools.sock";

/// vox on the real claude, through the stand-in at `port`, with `more` declared after.
pub fn vox_on_claude<'t>(t: &'t Town, port: u16, more: &str) -> anyhow::Result<OnCli<'t>> {
    let toml = std::fs::read_to_string(repo().join("residents/vox.toml"))?.replacen(
        "kind = \"gemini\"",
        "kind = \"claude\"\nargv = [\"claude\"]\napprove_timeout = \"20s\"",
        1,
    ) + more;
    let env = CLAUDE_ENV.replace("{port}", &port.to_string());
    OnCli::set(
        t,
        "vox",
        &toml,
        "/run/secrets/townhall/vox-gemini.env",
        &env,
        "/nonexistent".into(),
    )
}

/// A check's failure, with what the stand-in was last asked.
pub fn asked_last(e: anyhow::Error, api: &StandIn) -> anyhow::Error {
    anyhow::anyhow!(
        "{:.3000}\nthe stand-in was last asked:\n{}",
        e.to_string(),
        last_asked(api)
    )
}

/// The newest user message of the stand-in's last requests, for a failure's message.
fn last_asked(api: &StandIn) -> String {
    let shown: Vec<String> = api
        .requests()
        .iter()
        .rev()
        .take(3)
        .map(|(p, r)| {
            let newest: Vec<String> = r["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .rev()
                .take(3)
                .map(|m| format!("{}: {:.500}", m["role"], m["content"].to_string()))
                .collect();
            format!("{p}: {}", newest.join(" | "))
        })
        .collect();
    shown.join("\n")
}

/// Wait until vox's turn in `room` has ended with `want` in its answer; the answer.
pub async fn ended(
    mayor: &crate::support::mayor::Mayor,
    room: &matrix_sdk::ruma::OwnedRoomId,
    want: &str,
) -> anyhow::Result<String> {
    ended_from(mayor, room, VOX, want).await
}

/// Wait until `from`'s turn in `room` has ended with `want` in its answer; the answer.
pub async fn ended_from(
    mayor: &crate::support::mayor::Mayor,
    room: &matrix_sdk::ruma::OwnedRoomId,
    from: &str,
    want: &str,
) -> anyhow::Result<String> {
    // The answer's last edit names its session: the footer is there by then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let said = mayor.wait_for(room, from, want).await?;
        let last = said
            .iter()
            .rev()
            .find(|(b, _)| b.contains(want))
            .map(|(b, _)| b.clone())
            .context("the answer")?;
        if last.contains("_session `") {
            return Ok(last);
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the answer with {want:?} never ended: {last}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

pub fn claude_asks_the_mayor_tells_him_and_looks_at_the_town(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    // ttyS0 is a device a rule matches (ada's): the view lists it as one to ask for.
    crate::checks::grants::rule_declared(t)?;
    let api = StandIn::start(Api::Anthropic)?;
    let _on = vox_on_claude(t, api.port, "")?;
    block_on(async {
        let (mayor, room) = room_with(t, "vox asks the mayor", &[VOX], false).await?;

        // ask_mayor: a new message that mentions the mayor, its choices as reactions.
        mayor.say(&room, &format!("vox: {ASK_QUESTION}")).await?;
        let q = mayor.event_with(&room, VOX, QUESTION).await?;
        let mentions = mayor.mentions(&room, &q).await?;
        ensure!(
            mentions.iter().any(|m| m == "@mayor:town.test"),
            "the question does not mention the mayor: {mentions:?}"
        );
        mayor.react(&room, &q, "2️⃣").await?;
        let answer = ended(&mayor, &room, "answered: blue").await?;
        ensure!(
            answer.contains("asked the mayor once"),
            "the footer does not say the mayor was asked: {answer}"
        );
        ensure!(
            api.resumed(QUESTION, "@mayor:town.test answered: blue"),
            "the CLI's next request did not carry the choice:\n{}",
            api.summary()
        );
        mayor
            .wait_for(&room, VOX, "✅ answered by @mayor:town.test:** blue")
            .await?;

        // A reply to the question answers it too; and no answer in time is "no answer".
        mayor
            .say(&room, &format!("vox: {ASK_QUESTION} (by reply)"))
            .await?;
        let second = loop {
            let e = mayor.event_with(&room, VOX, QUESTION).await?;
            if e != q {
                break e;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        };
        mayor.reply(&room, &second, "green, actually").await?;
        ended(&mayor, &room, "answered: green, actually").await?;
        mayor
            .say(&room, &format!("vox: {ASK_QUESTION} (unanswered)"))
            .await?;
        ended(&mayor, &room, "no answer: nobody answered within 20s").await?;
        mayor.wait_for(&room, VOX, "⌛ no answer in time").await?;

        // tell_mayor: a message of its own while the turn runs, then the answer.
        mayor.say(&room, &format!("vox: {ASK_TELL}")).await?;
        let answer = ended(&mayor, &room, "done: ").await?;
        let said = mayor.from(&room, VOX).await?;
        ensure!(
            said.iter().any(|(b, edit)| !edit && b.trim() == TOLD),
            "the told message is not in the room on its own: {said:?}"
        );
        ensure!(answer.contains("told the mayor once"), "footer: {answer}");

        // town: what vox may know, as JSON.
        mayor.say(&room, &format!("vox: {ASK_TOWN}")).await?;
        let answer = ended(&mayor, &room, "looked at the town once").await?;
        ensure!(
            [
                "resident",
                "vox",
                "round",
                "devices",
                "/dev/ttyS0",
                "ask with request_device",
                "left_usd"
            ]
            .iter()
            .all(|w| answer.contains(w)),
            "the town's view is not in the answer: {answer}"
        );
        anyhow::Ok(())
    })
    .map_err(|e| asked_last(e, &api))?;
    let audit = t.sh(
        "grep '\"tool\"' /var/lib/townhall/audit.log | grep '\"resident\":\"vox\"' | tail -n 5",
    )?;
    ensure!(
        audit.contains("\"tool\":\"ask_mayor\"") && audit.contains("\"tool\":\"tell_mayor\""),
        "the tool calls are not audited: {audit}"
    );
    Ok(())
}

pub fn a_device_asked_for_is_lent_on_a_yes_and_refused_on_a_no(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    // ttyS0 is a device a rule matches (ada's), so it may be lent.
    crate::checks::grants::rule_declared(t)?;
    t.sh("rm -f /var/lib/townhall/leases.json; systemctl restart townhall")?;
    let api = StandIn::start(Api::Anthropic)?;
    let _on = vox_on_claude(t, api.port, "")?;
    let acl = || t.sh("getfacl -p /dev/ttyS0 2>/dev/null | grep '^user:vox:' || true");
    crate::checks::grants::comes_to(t, "vox", false)?;
    let checked = block_on(async {
        let (mayor, room) = room_with(t, "vox asks for a device", &[VOX], false).await?;
        mayor.say(&room, &format!("vox: {ASK_DEVICE} (1)")).await?;
        let q = mayor
            .event_with(&room, VOX, "vox asks for `/dev/ttyS0`")
            .await?;
        mayor.react(&room, &q, "✅").await?;
        let answer = ended(&mayor, &room, "granted by @mayor:town.test").await?;
        ensure!(answer.contains("/dev/ttyS0 is yours until"), "{answer}");
        // Granted before the tool returned: no wait here.
        ensure!(
            acl()?.contains("user:vox:rw"),
            "no ACL for vox on ttyS0 once the tool returned: {}",
            acl()?
        );
        crate::checks::grants::comes_to(t, "vox", true)?;

        mayor.say(&room, "vox: !release ttyS0").await?;
        mayor.wait_for(&room, VOX, "Released /dev/ttyS0").await?;
        mayor.say(&room, &format!("vox: {ASK_DEVICE} (2)")).await?;
        let second = loop {
            let e = mayor
                .event_with(&room, VOX, "vox asks for `/dev/ttyS0`")
                .await?;
            if e != q {
                break e;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        };
        mayor.react(&room, &second, "❌").await?;
        let answer = ended(&mayor, &room, "refused: denied by @mayor:town.test").await?;
        ensure!(
            answer.contains("asked for a device once"),
            "footer: {answer}"
        );
        anyhow::Ok(())
    })
    .map_err(|e| {
        let journal = t.journal(&["-u", "townhall", "-n", "30", "--no-pager"]);
        anyhow::anyhow!(
            "{:.3000}\nthe stand-in was last asked:\n{}\nthe daemon said:\n{journal:.4000}",
            e.to_string(),
            last_asked(&api)
        )
    });
    t.sh("rm -f /var/lib/townhall/leases.json; systemctl restart townhall")?;
    checked?;
    ensure!(
        acl()?.trim().is_empty(),
        "vox kept ttyS0 after ❌: {}",
        acl()?
    );
    Ok(())
}

/// vox's turn, as hostile code: saves its token where ada can read it, checks that the
/// token works while the turn runs, and holds the turn until the check says go.
const HOSTILE: &str = r#"read -r _
echo "$TOWNHALL_TURN_TOKEN" > /tmp/vox-token; chmod 644 /tmp/vox-token
HALL=/run/townhall-tools.sock perl /usr/local/lib/townhall-probes/hall.pl "{\"token\":\"$TOWNHALL_TURN_TOKEN\",\"tool\":{\"name\":\"town\"}}" | tr -d '\n' | head -c 200
echo
i=0; while [ ! -e /tmp/vox-go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
echo "hostile-turn-done"
"#;

/// Ask the tools socket `line` as `user`; root's answer.
fn ask_as(t: &Town, user: &str, line: &str) -> String {
    let out = t.as_user(user, &format!("HALL={SOCKET} perl {PROBES}/hall.pl {line}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn a_hostile_resident_gets_nothing_from_the_tools_socket(t: &Town) -> anyhow::Result<()> {
    let dir = t.run.join(format!("root{PROBES}"));
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(
        repo().join("tests/town/probes/hall.pl"),
        dir.join("hall.pl"),
    )?;
    t.sh("rm -f /tmp/vox-token /tmp/vox-go")?;
    let (script, toml) =
        crate::checks::asked::vox_runs(t, &format!("{PROBES}/hostile.sh"), HOSTILE)?;
    let on = OnCli::set(
        t,
        "vox",
        &toml,
        "/run/secrets/townhall/vox-gemini.env",
        "",
        "/nonexistent".into(),
    );
    let call = |token: &str| format!("'{{\"token\":\"{token}\",\"tool\":{{\"name\":\"town\"}}}}'");
    let checked = on.and_then(|_on| {
        block_on(async {
            let (mayor, room) = room_with(t, "vox turns hostile", &[VOX], false).await?;
            mayor.say(&room, "vox: go").await?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while t.sh("test -s /tmp/vox-token && echo yes || true")?.trim() != "yes" {
                ensure!(
                    std::time::Instant::now() < deadline,
                    "vox's turn did not start"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            let token = t.sh("cat /tmp/vox-token")?.trim().to_string();
            // While vox's turn runs: ada with vox's token, vox with a forged one, a 10 MB line.
            let as_ada = ask_as(t, "ada", &call(&token));
            ensure!(
                as_ada.contains("no running turn of ada's holds this token"),
                "ada used vox's token: {as_ada}"
            );
            let forged = ask_as(t, "vox", &call(&"0".repeat(32)));
            ensure!(
                forged.contains("no running turn of vox's"),
                "a forged token was answered: {forged}"
            );
            let big = ask_as(t, "vox", "--big 10000000");
            ensure!(
                big.contains("over 66560 bytes"),
                "a 10 MB call was not refused: {big:.300}"
            );
            // Root is unharmed: the live token still works, for vox only.
            let live = ask_as(t, "vox", &call(&token));
            ensure!(
                live.contains("\\\"resident\\\": \\\"vox\\\""),
                "the live token stopped working: {live}"
            );
            t.sh("touch /tmp/vox-go")?;
            let said = mayor.wait_for(&room, VOX, "hostile-turn-done").await?;
            ensure!(
                said.iter().any(|(b, _)| b.contains("\\\"round\\\"")),
                "the turn's own call was not answered: {said:?}"
            );
            // Stale: the same token once the turn has ended.
            let stale = ask_as(t, "vox", &call(&token));
            ensure!(
                stale.contains("no running turn of vox's"),
                "a stale token was answered: {stale}"
            );
            anyhow::Ok(())
        })
    });
    let _ = std::fs::remove_file(&script);
    t.sh("rm -f /tmp/vox-token /tmp/vox-go")?;
    checked?;
    // `townhall mcp` outside any turn: it speaks MCP, and its tools refuse.
    let rpc = r#"printf '%s\n' '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"probe","version":"1"}}}' '{"jsonrpc":"2.0","method":"notifications/initialized"}' '{"jsonrpc":"2.0","id":2,"method":"tools/list"}' '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"town","arguments":{}}}' | (cat; sleep 2) | env -u TOWNHALL_TURN_TOKEN townhall mcp"#;
    let out = t.as_user("ada", rpc);
    let out = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.contains("ask_mayor")
            && out.contains("request_device")
            && out.contains("not in a turn"),
        "`townhall mcp` outside a turn: {out:.2000}"
    );
    t.sh("systemctl is-active townhall")?;
    Ok(())
}

/// vox on the real gemini: the same server, declared in its system settings, asks the
/// mayor and tells him.
pub fn gemini_asks_and_tells_the_mayor(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let api = StandIn::start(Api::Gemini)?;
    let toml = std::fs::read_to_string(repo().join("residents/vox.toml"))?;
    let env = format!(
        "GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:{}\nGEMINI_API_KEY=stand-in-not-a-key\n",
        api.port
    );
    let _on = OnCli::set(
        t,
        "vox",
        &toml,
        "/run/secrets/townhall/vox-gemini.env",
        &env,
        "/nonexistent".into(),
    )?;
    asks_and_tells(t, &api, "vox", "contents", ("1️⃣", "red"))
}

/// ada on the real codex: its `-c` overrides name the same server; it asks the mayor and
/// tells him.
pub fn codex_asks_and_tells_the_mayor(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let api = StandIn::start(Api::OpenAi)?;
    let toml = std::fs::read_to_string(repo().join("residents/ada.toml"))?
        .lines()
        .filter(|l| !l.starts_with("argv = "))
        .map(|l| match l {
            "kind = \"claude\"" => format!(
                "kind = \"codex\"\nbase_url = \"http://127.0.0.1:{}/v1\"",
                api.port
            ),
            l if l.starts_with("environment_files = ") => {
                "environment_files = [\"/run/secrets/townhall/ada-codex.env\"]".into()
            }
            l => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    ensure!(toml.contains("kind = \"codex\""), "ada.toml changed shape");
    let _on = OnCli::set(
        t,
        "ada",
        &toml,
        "/run/secrets/townhall/ada-codex.env",
        "CODEX_API_KEY=sk-stand-in-not-a-key\n",
        "/nonexistent".into(),
    )?;
    asks_and_tells(t, &api, "ada", "input", ("2️⃣", "blue"))
}

/// `who` asks the mayor to choose and gets `pick` (the reaction, the choice), then tells
/// him something on its own, in a room of its own; on failure, the end of what the
/// stand-in was last sent under `body`.
fn asks_and_tells(
    t: &Town,
    api: &StandIn,
    who: &str,
    body: &str,
    (reaction, choice): (&str, &str),
) -> anyhow::Result<()> {
    let mxid = format!("@{who}:town.test");
    block_on(async {
        let (mayor, room) = room_with(t, &format!("{who} asks"), &[&mxid], false).await?;
        mayor.say(&room, &format!("{who}: {ASK_QUESTION}")).await?;
        let q = mayor.event_with(&room, &mxid, QUESTION).await?;
        mayor.react(&room, &q, reaction).await?;
        let said = mayor.wait_for(&room, &mxid, "asked the mayor once").await?;
        ensure!(
            said.iter()
                .any(|(b, _)| b.contains(&format!("answered: {choice}"))),
            "{who}'s CLI did not get the choice: {said:?}"
        );
        mayor.say(&room, &format!("{who}: {ASK_TELL}")).await?;
        mayor.wait_for(&room, &mxid, "told the mayor once").await?;
        let said = mayor.from(&room, &mxid).await?;
        ensure!(
            said.iter().any(|(b, edit)| !edit && b.trim() == TOLD),
            "the told message is not in the room: {said:?}"
        );
        anyhow::Ok(())
    })
    .map_err(|e| {
        let asked: Vec<String> = api
            .requests()
            .iter()
            .rev()
            .take(3)
            .map(|(p, r)| {
                let s = r[body].to_string();
                let tail: String = s
                    .chars()
                    .skip(s.chars().count().saturating_sub(1200))
                    .collect();
                format!("{p}: …{tail}")
            })
            .collect();
        anyhow::anyhow!(
            "{:.3000}\nthe stand-in was last asked:\n{}",
            e.to_string(),
            asked.join("\n")
        )
    })
}
