//! Device notices reach a resident's rooms: a device granted to it, gone, and revoked when
//! its rule is removed.

use anyhow::ensure;

use crate::checks::chat::{ADA, block_on, room_with};
use crate::support::town::Town;

pub fn device_notices_reach_the_residents_rooms(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    use crate::checks::grants::{RULE, ada_toml, uevent};
    block_on(async {
        let (mayor, room) = room_with(t, "ada's bench", &[ADA], false).await?;
        let path = ada_toml(t);
        let declared = std::fs::read_to_string(&path)?;
        let with_room = declared.replace("rooms = []", &format!("rooms = [\"{room}\"]"));
        ensure!(
            with_room != declared,
            "ada.toml has no `rooms = []` line to fill"
        );
        std::fs::write(&path, format!("{with_room}{RULE}"))?;
        t.sh("townhall reload")?;
        mayor
            .wait_for(&room, ADA, "/dev/ttyS0 is here and granted to ada")
            .await?;
        uevent("remove")?;
        mayor.wait_for(&room, ADA, "/dev/ttyS0 is gone").await?;
        uevent("add")?;
        std::fs::write(&path, &with_room)?;
        t.sh("townhall reload")?;
        mayor
            .wait_for(&room, ADA, "Access to /dev/ttyS0 was revoked")
            .await?;
        std::fs::write(&path, declared)?;
        t.sh("townhall reload")?;
        Ok(())
    })
}
