//! The shipped config as tests start from it: a town of vox alone (its [[repo]] may then
//! name only vox), with town.toml and vox's file edited by the test.

use std::path::Path;

use crate::{Diagnostics, Town, load};

pub(crate) fn vox_town(
    edit_town: impl Fn(String) -> String,
    edit_vox: impl Fn(String) -> String,
) -> Result<Town, Diagnostics> {
    // The shipped config sits at the top of the workspace.
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("residents")).unwrap();
    let town = std::fs::read_to_string(root.join("town.toml"))
        .unwrap()
        .replace("push = [\"ada\", \"vox\"]", "push = [\"vox\"]");
    std::fs::write(dir.path().join("town.toml"), edit_town(town)).unwrap();
    let vox = edit_vox(std::fs::read_to_string(root.join("residents/vox.toml")).unwrap());
    std::fs::write(dir.path().join("residents/vox.toml"), vox).unwrap();
    load(dir.path())
}
