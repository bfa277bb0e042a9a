//! Pictures (issue 26): `!usage` in an encrypted room answers with an m.image whose bytes,
//! decrypted as Element would, are a whole PNG of the size the event declares; `townhall
//! usage` gives the same days as JSON and the chart as SVG.

use anyhow::{Context, ensure};

use crate::checks::chat::{ADA, block_on};
use crate::support::mayor::Mayor;
use crate::support::town::Town;

/// A PNG read whole: its width and height.
fn png_read(bytes: &[u8]) -> anyhow::Result<(u32, u32)> {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info()?;
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels)?;
    Ok((frame.width, frame.height))
}

pub fn usage_is_a_png_in_an_encrypted_room_and_svg_or_json_at_a_terminal(
    t: &Town,
) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    t.sh("townhall turn ada counted one >/dev/null && townhall turn ada counted two >/dev/null")?;
    let json = t.sh("townhall usage --resident ada --days 7 --json")?;
    let days: Vec<serde_json::Value> =
        serde_json::from_str(&json).with_context(|| format!("not JSON: {json}"))?;
    let today = days.last().context("no days")?;
    ensure!(
        days.len() == 7 && today["turns"].as_u64().unwrap_or(0) >= 2,
        "ada's last 7 days miss today's turns: {json}"
    );
    let svg = t.sh("townhall usage --resident ada --days 7 --svg")?;
    ensure!(
        svg.starts_with("<svg") && svg.contains("ada, last 7 days"),
        "not the chart as SVG: {svg:.300}"
    );
    block_on(async {
        let mayor = Mayor::login(&t.mayor()?).await?;
        let room = mayor.create("ada's spending", &[ADA], false, true).await?;
        mayor.wait_joined(&room, &[ADA]).await?;
        mayor.say(&room, "ada: !usage 7").await?;
        mayor.wait_for(&room, ADA, "ada, last 7 days:").await?;
        let images = mayor.images_from(&room, ADA).await?;
        let (name, declared, encrypted, bytes) = images.last().context("ada sent no image")?;
        ensure!(
            *encrypted,
            "the chart went unencrypted into an encrypted room"
        );
        let (w, h) = png_read(bytes).with_context(|| format!("{name} is not a whole PNG"))?;
        ensure!(
            *declared == Some((u64::from(w), u64::from(h))) && (w, h) == (800, 400),
            "{name} is {w}×{h}, declared {declared:?}"
        );
        anyhow::Ok(())
    })
}
