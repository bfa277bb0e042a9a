//! `ask_resident` (issue 23): residents asking residents through the town's tools, both on
//! the real claude with the stand-in model making the calls. ada asks vox, whose `allow`
//! names her: vox's real turn runs, the mayor reads the ask and the answer in vox's room,
//! and the answer reaches ada's CLI. vox asking ada back is refused while ada's `allow`
//! does not name vox; once it does, the two ask back and forth until the hop limit stops
//! the chain, and every turn of it ends.

use anyhow::{Context, ensure};

use crate::checks::chat::{block_on, room_with};
use crate::checks::clis::OnCli;
use crate::checks::tools::{asked_last, ended_from, vox_on_claude};
use crate::support::standin::{ASK_RESIDENT, Api, CLAUDE_ENV, StandIn};
use crate::support::town::{Town, repo};

const ADA: &str = "@ada:town.test";
const VOX: &str = "@vox:town.test";

/// ada on the real claude through the stand-in at `port`, her room `room` declared;
/// `allow` in her [matrix].
fn ada_on_claude<'t>(t: &'t Town, port: u16, room: &str, allow: &str) -> anyhow::Result<OnCli<'t>> {
    let toml = std::fs::read_to_string(repo().join("residents/ada.toml"))?
        .replacen("rooms = []", &format!("rooms = [\"{room}\"]"), 1)
        .replacen("[matrix]\n", &format!("[matrix]\nallow = [{allow}]\n"), 1);
    let env = CLAUDE_ENV.replace("{port}", &port.to_string());
    OnCli::set(
        t,
        "ada",
        &toml,
        "/run/secrets/townhall/ada-anthropic.env",
        &env,
        "/nonexistent".into(),
    )
}

pub fn ada_asks_vox_and_a_chain_of_asks_stops_at_the_hop_limit(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let api = StandIn::start(Api::Anthropic)?;
    block_on(async {
        let (mayor, vox_room) = room_with(t, "vox's own room", &[VOX], false).await?;
        let ada_room = mayor.create("ada asks vox", &[ADA], false, false).await?;
        mayor.wait_joined(&ada_room, &[ADA]).await?;
        let vox_declared = format!("[matrix]\nallow = [\"{ADA}\"]\n");
        let _vox = vox_on_claude(t, api.port, "")?;
        // vox's room declared, and its allow naming ada, in vox's own file.
        let vox_toml = t.run.join("root/etc/townhall/residents/vox.toml");
        let toml = std::fs::read_to_string(&vox_toml)?
            .replacen("[matrix]\n", &vox_declared, 1)
            .replacen(
                "description =",
                &format!("rooms = [\"{vox_room}\"]\ndescription ="),
                1,
            );
        std::fs::write(&vox_toml, toml)?;
        t.sh("townhall reload")?;
        let _ada = ada_on_claude(t, api.port, ada_room.as_str(), "")?;

        // ada asks vox: vox answers in its own turn; vox asking ada back is refused.
        mayor
            .say(
                &ada_room,
                &format!("ada: {ASK_RESIDENT}vox: which paper first?"),
            )
            .await?;
        let answer = ended_from(&mayor, &ada_room, ADA, "vox answered").await?;
        ensure!(
            answer.contains("refused: ada does not take asks from vox"),
            "vox's ask back was not refused, or its answer did not reach ada: {answer}"
        );
        ensure!(
            answer.contains("asked another resident once"),
            "footer: {answer}"
        );
        mayor
            .wait_for(&vox_room, VOX, "ada asks vox")
            .await
            .context("the ask is not in vox's room")?;
        mayor
            .wait_for(&vox_room, VOX, "answered ada's ask")
            .await
            .context("vox's answer is not in vox's room")?;

        // Both allow each other: the chain asks back and forth until the hop limit.
        drop(_ada);
        let _ada = ada_on_claude(t, api.port, ada_room.as_str(), &format!("\"{VOX}\""))?;
        mayor
            .say(&ada_room, &format!("ada: {ASK_RESIDENT}vox: ping"))
            .await?;
        // Five turns of the real claude in a chain: longer than one wait.
        let mut waits = 0;
        let answer = loop {
            match ended_from(&mayor, &ada_room, ADA, "the hop limit (4) is reached").await {
                Err(_) if waits < 3 => waits += 1,
                r => break r?,
            }
        };
        ensure!(
            answer.matches("answered:").count() == 4,
            "the chain did not run ada → vox → ada → vox → ada: {answer}"
        );
        anyhow::Ok(())
    })
    .map_err(|e| asked_last(e, &api))?;
    Ok(())
}
