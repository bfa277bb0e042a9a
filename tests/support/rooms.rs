//! A resident's declared rooms, set for one check and put back after it.

use anyhow::ensure;
use matrix_sdk::ruma::OwnedRoomId;

use crate::support::town::Town;

/// A resident's `rooms = [ROOM]` in the running town until the guard is dropped, when its
/// file is put back and the daemon reloaded (whatever the check returned).
pub(crate) struct AdaRooms<'a> {
    t: &'a Town,
    path: std::path::PathBuf,
    declared: String,
}

impl<'a> AdaRooms<'a> {
    pub(crate) fn set(t: &'a Town, room: &OwnedRoomId) -> anyhow::Result<Self> {
        Self::of(t, "ada", room)
    }

    /// `name`'s file says `rooms = []`, or has no rooms line (it is a top-level key).
    pub(crate) fn of(t: &'a Town, name: &str, room: &OwnedRoomId) -> anyhow::Result<Self> {
        let path = t
            .run
            .join(format!("root/etc/townhall/residents/{name}.toml"));
        let declared = std::fs::read_to_string(&path)?;
        let line = format!("rooms = [\"{room}\"]");
        let with = if declared.contains("rooms = []") {
            declared.replace("rooms = []", &line)
        } else {
            format!("{line}\n{declared}")
        };
        ensure!(
            !declared.contains("rooms =") || declared.contains("rooms = []"),
            "{name}.toml declares rooms already"
        );
        std::fs::write(&path, with)?;
        t.sh("townhall reload")?;
        Ok(Self { t, path, declared })
    }
}

impl Drop for AdaRooms<'_> {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.path, &self.declared);
        let _ = self.t.sh("townhall reload");
    }
}
