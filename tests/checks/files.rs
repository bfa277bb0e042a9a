//! Files both ways, in the real town: the mayor sends an image in an encrypted DM and it is
//! in ada's inbox, hers, and named in her next prompt; what her turn leaves in its outbox
//! arrives in the room, byte for byte. What ada plants in the outbox (a link to root's
//! files, a fifo) is never sent and never hangs the answer.

use anyhow::ensure;

use crate::checks::chat::block_on;
use crate::support::town::Town;

const ADA: &str = "@ada:town.test";
const WS: &str = "/agents/ada/work";
/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0xf8, 0xcf, 0x50,
    0x0f, 0x00, 0x03, 0x86, 0x01, 0x80, 0x5a, 0x34, 0x7d, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A file in the town as hex, to compare bytes without a shared mount.
fn hex_of(t: &Town, path: &str) -> anyhow::Result<String> {
    t.sh(&format!("od -An -tx1 -v '{path}' | tr -d ' \\n'"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn files_go_both_ways_in_an_encrypted_dm(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let bytes = PNG.to_vec();
    // What ada planted: the name the image will have, as a link to root's files.
    let planted = t.as_user("ada", &format!("rm -rf {WS}/inbox {WS}/outbox && mkdir -p {WS}/inbox {WS}/outbox && ln -s /etc/shadow {WS}/inbox/dot.png && ln -s /etc/shadow {WS}/outbox/shadow && mkfifo {WS}/outbox/fifo && echo ok"));
    ensure!(
        String::from_utf8_lossy(&planted.stdout).contains("ok"),
        "planting: {}",
        String::from_utf8_lossy(&planted.stderr)
    );
    block_on(async {
        let (mayor, room) =
            crate::checks::chat::encrypted_dm(t, "ada files (encrypted)", ADA).await?;
        mayor.say(&room, "hello first").await?;
        mayor.wait_for(&room, ADA, "you said: hello first").await?;

        mayor
            .send_file(&room, "dot.png", "image/png", bytes.clone())
            .await?;
        mayor
            .wait_for(&room, ADA, &format!("Saved as `{WS}/inbox/1-dot.png`"))
            .await?;
        let saved = format!("{WS}/inbox/1-dot.png");
        ensure!(
            t.sh(&format!("stat -c '%U %a' {saved}"))?.trim() == "ada 600",
            "the saved file is not ada's alone"
        );
        ensure!(
            hex_of(t, &saved)? == hex(&bytes),
            "the inbox holds other bytes than the mayor sent"
        );
        ensure!(
            t.sh("test -L /agents/ada/work/inbox/dot.png && echo link")?
                .contains("link"),
            "ada's planted link was followed or replaced"
        );
        mayor.say(&room, "what is in it?").await?;
        mayor.wait_for(&room, ADA, &format!("you said: [@mayor:town.test sent a file, saved at {saved} (image/png, 70 bytes)]")).await?;

        mayor.say(&room, "outbox please").await?;
        mayor
            .wait_for(&room, ADA, "two files in the outbox")
            .await?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let files = loop {
            let f = mayor.files_from(&room, ADA).await?;
            if f.len() >= 2 || std::time::Instant::now() > deadline {
                break f;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        };
        let names: Vec<(&str, &str)> = files
            .iter()
            .map(|(k, n, _)| (k.as_str(), n.as_str()))
            .collect();
        ensure!(
            names.contains(&("m.image", "plot.png")) && names.contains(&("m.file", "result.bin")),
            "the room has {names:?}"
        );
        ensure!(
            !names
                .iter()
                .any(|(_, n)| n.contains("shadow") || n.contains("fifo")),
            "a planted entry was sent: {names:?}"
        );
        for (_, name, got) in &files {
            ensure!(
                hex(got) == hex_of(t, &format!("{WS}/outbox/sent/{name}"))?,
                "{name} arrived with other bytes than ada wrote"
            );
        }
        ensure!(
            t.sh("ls /run/townhall-files | wc -l")?.trim() == "0",
            "root kept copies after the answer was delivered"
        );
        Ok(())
    })
}

/// Over the resident's `[files] max_size`, a file is refused with a notice, in both ways.
pub fn a_file_over_the_cap_is_refused_with_a_notice(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let ada = crate::checks::grants::ada_toml(t);
    let declared = std::fs::read_to_string(&ada)?;
    std::fs::write(&ada, format!("{declared}\n[files]\nmax_size = \"10K\"\n"))?;
    t.sh("townhall reload")?;
    let r = block_on(async {
        let (mayor, room) =
            crate::checks::chat::room_with(t, "ada small files", &[ADA], true).await?;
        mayor
            .send_file(
                &room,
                "big.bin",
                "application/octet-stream",
                vec![7u8; 20_000],
            )
            .await?;
        mayor
            .wait_for(
                &room,
                ADA,
                "big.bin is 19.5 KiB, over the 10.0 KiB ada takes: not saved",
            )
            .await?;
        mayor.say(&room, "outbox again").await?;
        mayor.wait_for(&room, ADA, "outbox/result.bin is 29.3 KiB, over the 10.0 KiB a file may be: not sent, still in the outbox").await?;
        Ok(())
    });
    std::fs::write(&ada, declared)?;
    t.sh("townhall reload")?;
    r
}
