//! `send_file` (issue 23): the stand-in model asks the real claude's town tools to send a
//! file, and the mayor's real client gets it in the room, byte for byte. What a hostile
//! vox plants and asks for instead — a link to /etc/shadow, a link into another resident's
//! home (which vox cannot even resolve), a fifo, a file over its size cap, an absolute path outside its home — is refused
//! with the reason, and nothing of it reaches the room or stays in root's hand-over.

use anyhow::ensure;

use crate::checks::chat::{block_on, room_with};
use crate::checks::tools::{asked_last, ended, vox_on_claude};
use crate::support::standin::{ASK_SEND, Api, StandIn};
use crate::support::town::Town;

const VOX: &str = "@vox:town.test";
const WS: &str = "/agents/vox/notes";

pub fn an_agent_sends_a_file_from_its_home_and_nothing_else(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let api = StandIn::start(Api::Anthropic)?;
    let _on = vox_on_claude(t, api.port, "\n[files]\nmax_size = \"10K\"\n")?;
    let planted = t.as_user(
        "vox",
        &format!(
            "set -e; mkdir -p {WS}; cd {WS}; rm -rf sendme; mkdir sendme; cd sendme
printf 'findings of the day\\n' > report.txt
ln -s /etc/shadow shadow.txt
ln -s /agents/ada/.profile ada.txt
mkfifo pipe.txt
head -c 20000 /dev/zero > big.bin
echo planted"
        ),
    );
    ensure!(
        String::from_utf8_lossy(&planted.stdout).contains("planted"),
        "planting vox's files: {}",
        String::from_utf8_lossy(&planted.stderr)
    );
    block_on(async {
        let (mayor, room) = room_with(t, "vox sends files", &[VOX], false).await?;
        for (path, refused) in [
            ("sendme/shadow.txt", "is not inside your home"),
            ("sendme/ada.txt", "does not lead to a file you can reach"),
            ("/etc/passwd", "is not inside your home"),
            ("sendme/pipe.txt", "is not a regular file"),
            ("sendme/big.bin", "over the 10.0 KiB a file may be"),
        ] {
            mayor.say(&room, &format!("vox: {ASK_SEND}{path}")).await?;
            let answer = ended(&mayor, &room, &format!("not sent: sending {path}")).await?;
            ensure!(
                answer.contains(refused),
                "sending {path} was not refused for {refused:?}: {answer}"
            );
        }
        mayor
            .say(&room, &format!("vox: {ASK_SEND}sendme/report.txt"))
            .await?;
        let answer = ended(&mayor, &room, "sent report.txt (20 bytes) into the room").await?;
        ensure!(answer.contains("sent a file once"), "footer: {answer}");
        // The report's answer came after every refusal's: had a refused file been
        // uploaded, it would be in the room by now.
        let files = mayor.files_from(&room, VOX).await?;
        let names: Vec<&str> = files.iter().map(|(_, n, _)| n.as_str()).collect();
        ensure!(names == ["report.txt"], "the room has {names:?}");
        ensure!(
            files[0].2 == b"findings of the day\n",
            "report.txt arrived with other bytes"
        );
        anyhow::Ok(())
    })
    .map_err(|e| asked_last(e, &api))?;
    ensure!(
        t.sh("ls /run/townhall-files | wc -l")?.trim() == "0",
        "root kept a copy of a sent file"
    );
    let audit = t.sh("grep '\"tool\":\"send_file\"' /var/lib/townhall/audit.log | tail -n 6")?;
    ensure!(
        audit.matches("\"ok\":false").count() >= 5 && audit.contains("\"ok\":true"),
        "the sends are not audited: {audit}"
    );
    Ok(())
}
