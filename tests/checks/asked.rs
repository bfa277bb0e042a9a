//! A blocked host is heard (issue 22, part 5): vox, in a turn, asks the gate's proxy for a
//! host its `[network] allow` does not name; the gate asks root, root asks the mayor in
//! the turn's room; the mayor's ✅ opens that host for the round (a second turn reaches it
//! without asking again), and a ❌ keeps another one closed; `!network` shows both.

use anyhow::ensure;

use crate::checks::chat::{block_on, room_with};
use crate::checks::clis::OnCli;
use crate::checks::gate::{free_port, gate, serving};
use crate::support::internet::{HOST, Internet, Names};
use crate::support::standin::{Api, StandIn};
use crate::support::town::{Town, repo};

const VOX: &str = "@vox:town.test";
const SCRIPT: &str = "/usr/local/lib/townhall-probes/reach.sh";

/// vox's turn: the prompt names a host and a path; curl goes through the proxy its turns
/// are given (HTTPS_PROXY), as git or npm would.
const REACH: &str = r#"read -r host path
curl -sS -m 60 -p -x "$HTTPS_PROXY" "http://$host/$path" 2>&1
echo "reach-done $path"
"#;

pub fn a_host_not_allowed_is_asked_for_and_opened_for_the_round(t: &Town) -> anyhow::Result<()> {
    let net = Internet::start()?;
    let api = StandIn::start(Api::Anthropic)?;
    let port = free_port()?;
    let _gated = gate(t, port, api.port)?;
    let _names = Names::add(t, &format!("{HOST} elsewhere.test closed.test"))?;
    let (script, toml) = vox_runs(t, SCRIPT, REACH)?;
    let env_file = "/run/secrets/townhall/vox-gemini.env";
    let on = OnCli::set(t, "vox", &toml, env_file, "", String::from("/nonexistent"));
    let checked = on.and_then(|_on| {
        serving(t, port)?;
        block_on(async {
            let (mayor, room) = room_with(t, "vox asks for a host", &[VOX], false).await?;
            let question = "vox wants `elsewhere.test:80`";

            mayor.say(&room, "vox: elsewhere.test first").await?;
            let asked = mayor.event_with(&room, VOX, question).await?;
            mayor.react(&room, &asked, "✅").await?;
            mayor.wait_for(&room, VOX, "reach-done first").await?;
            net_saw(&net, "GET /first HTTP/1.1")?;

            // The yes holds for the round: no second question, and the host answers.
            mayor.say(&room, "vox: elsewhere.test second").await?;
            mayor.wait_for(&room, VOX, "reach-done second").await?;
            net_saw(&net, "GET /second HTTP/1.1")?;
            let said = mayor.from(&room, VOX).await?;
            // Edits (a question closed with its answer) are not questions of their own.
            let questions = said
                .iter()
                .filter(|(b, edit)| !edit && b.contains(question))
                .count();
            ensure!(
                questions == 1,
                "vox was asked about {questions} times: {said:?}"
            );

            // A ❌ keeps another host closed, and the turn hears why.
            mayor.say(&room, "vox: closed.test third").await?;
            let asked = mayor
                .event_with(&room, VOX, "vox wants `closed.test:80`")
                .await?;
            mayor.react(&room, &asked, "❌").await?;
            let said = mayor.wait_for(&room, VOX, "reach-done third").await?;
            ensure!(
                said.iter().any(|(b, _)| b.contains("403")),
                "vox's curl did not hear the refusal: {said:?}"
            );

            // `!network` shows both: the host opened for the round, the one refused.
            mayor.say(&room, "vox: !network").await?;
            let said = mayor.wait_for(&room, VOX, "refused at the gate").await?;
            let report = said
                .iter()
                .find(|(b, _)| b.contains("refused at the gate"))
                .expect("the report");
            ensure!(
                report
                    .0
                    .contains("opened by a mayor this round: `elsewhere.test:80`")
                    && report
                        .0
                        .contains("`closed.test:80` refused at the gate, 1×"),
                "`!network` does not show what was opened and refused: {report:?}"
            );
            anyhow::Ok(())
        })
    });
    let _ = std::fs::remove_file(&script);
    checked?;
    // The barrier: root's request after the third arrives, with nothing of the third's.
    t.sh(&format!("curl -sS -m 5 http://{HOST}/root-after; true"))?;
    net_saw(&net, "GET /root-after HTTP/1.1")?;
    ensure!(
        !net.seen().iter().any(|s| s.contains("/third")),
        "a host the mayor refused was reached: {:?}",
        net.seen()
    );
    Ok(())
}

/// vox's file with its turns running `body` (written to `path` in the town) instead of a
/// CLI, and no environment file: the script's path on this side, and the file.
pub(crate) fn vox_runs(
    t: &Town,
    path: &str,
    body: &str,
) -> anyhow::Result<(std::path::PathBuf, String)> {
    let script = t.run.join(format!("root{path}"));
    std::fs::create_dir_all(script.parent().expect("a dir"))?;
    std::fs::write(&script, body)?;
    let toml = std::fs::read_to_string(repo().join("residents/vox.toml"))?
        .lines()
        .filter(|l| !l.starts_with("argv = "))
        .map(|l| match l {
            l if l.starts_with("kind = ") => {
                format!("kind = \"command\"\nargv = [\"/bin/sh\", \"{path}\"]\n")
            }
            l if l.starts_with("environment_files") => String::new(),
            l => format!("{l}\n"),
        })
        .collect::<String>();
    Ok((script, toml))
}

/// Wait until the far host saw `line`.
fn net_saw(net: &Internet, line: &str) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !net.seen().iter().any(|s| s.ends_with(line)) {
        ensure!(
            std::time::Instant::now() < deadline,
            "the far host never saw {line}: {:?}",
            net.seen()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
}
