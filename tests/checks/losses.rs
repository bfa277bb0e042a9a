//! What a confirmed reset lost (a file, a commit the town remote never got) is read from
//! the retired round after the new one is in place, and reaches ada's rooms afterwards.

use anyhow::ensure;

use crate::checks::levelling::install_probes;
use crate::support::town::Town;

/// A confirmed reset reads nothing of the homes before the new round is in place: what
/// ada's round lost (a file, a commit the town remote never got) is not in the reset's
/// output, and reaches her rooms afterwards, read from the retired round.
pub fn what_a_confirmed_reset_lost_reaches_adas_rooms_afterwards(t: &Town) -> anyhow::Result<()> {
    install_probes(t)?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    crate::checks::chat::block_on(async {
        let (mayor, room) =
            crate::checks::chat::room_with(t, "what ada lost", &["@ada:town.test"], false).await?;
        let _rooms = crate::support::rooms::AdaRooms::set(t, &room)?;
        t.sh("systemctl start townhall && townhall reset --yes --by losses >/dev/null 2>&1")?;
        let out = t.as_user(
            "ada",
            // A repository of its own in the (persisted) workspace, removed below: the
            // commit must not end up in what later checks push.
            &format!("[ -r ~/.profile ] && . ~/.profile; head -c 5000 /dev/zero > ~/lost-{nonce}.bin && git init -q ~/work/lost-{nonce} && cd ~/work/lost-{nonce} && git commit -q --allow-empty -m unpushed-{nonce}"),
        );
        ensure!(
            out.status.success(),
            "planting: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let said = t.sh("townhall reset --yes --by losses 2>&1")?;
        ensure!(
            !said.contains(&format!("lost-{nonce}")),
            "the confirmed reset walked ada's home before it began:\n{said}"
        );
        ensure!(
            said.contains("goes to each resident's rooms"),
            "the reset does not say where the losses go:\n{said}"
        );
        let msgs = mayor
            .wait_for(&room, "@ada:town.test", &format!("lost-{nonce}.bin"))
            .await?;
        // This reset's notice: the one naming the file. The first reset's report of the
        // round before may name the repository too (it reads the persisted workspace
        // while the repository is made), and is not the one checked here.
        let notice = msgs
            .iter()
            .find(|(b, _)| b.contains(&format!("lost-{nonce}.bin")))
            .map(|(b, _)| b.clone())
            .unwrap_or_default();
        ensure!(
            notice.contains("ended") && notice.contains(&format!("unpushed-{nonce}")),
            "the notice: {notice}"
        );
        t.sh(&format!("rm -rf /persist/ada/work/lost-{nonce}"))?;
        Ok(())
    })
}
