//! Handing a conversation over (issue 13): each answer names the conversation's CLI
//! session, `!session` does too, and `townhall attach` continues that session at a
//! terminal, as the resident, in its workspace, in a unit of its own user manager.

use std::time::Duration;

use anyhow::{Context, ensure};

use crate::checks::chat::{block_on, room_with};
use crate::support::town::Town;

const VOX: &str = "@vox:town.test";

pub fn a_conversation_is_picked_up_at_a_terminal(t: &Town) -> anyhow::Result<()> {
    // vox runs claude's stream through the stand-in, which names a session per run.
    crate::checks::turns::setup(t)?;
    let id = block_on(async {
        let (mayor, room) = room_with(t, "vox hands over", &[VOX], true).await?;
        mayor.say(&room, "hello from the phone").await?;
        let said = mayor
            .wait_for(&room, VOX, "townhall attach vox --conversation")
            .await?;
        let footer = said
            .iter()
            .map(|(b, _)| b.as_str())
            .find(|b| b.contains("townhall attach"))
            .unwrap_or_default()
            .to_string();
        ensure!(
            footer.contains(&format!("--conversation '{room}'")),
            "the answer names another conversation: {footer}"
        );
        let id = footer
            .split("session `")
            .nth(1)
            .and_then(|r| r.split('`').next())
            .context("no session id in the answer")?
            .to_string();
        mayor.say(&room, "!session").await?;
        // Its own message, besides the answer's footer.
        let want = format!("session `{id}` · at a terminal");
        for _ in 0..100 {
            if mayor
                .from(&room, VOX)
                .await?
                .iter()
                .filter(|(b, _)| b.contains(&want))
                .count()
                >= 2
            {
                return Ok(id);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        anyhow::bail!("`!session` did not name {id}")
    })?;
    // At a terminal (script gives attach its tty): a line for the CLI, then leave the shell.
    // The line waits for the CLI to be up: systemd-run --pty flushes what was typed before.
    let before = t.sh("ls /agents/vox | grep -c standin-record || true")?;
    let out = t.sh("cd / && (sleep 3; ps -eo args > /tmp/attach-ps; printf 'typed at the terminal\\n'; sleep 4; printf 'exit\\n') | timeout 60 script -qec 'townhall attach vox' /dev/null 2>&1; echo \"exit $?\"")?;
    // The resident's environment reached the CLI, and no command line carried it.
    let ps = t.sh("cat /tmp/attach-ps")?;
    ensure!(
        ps.contains("systemd-run")
            && !ps.lines().any(|l| l.contains("--setenv=")
                && l.split("--setenv=")
                    .skip(1)
                    .any(|v| v.split_whitespace().next().is_some_and(|v| v.contains('=')))),
        "a value on a command line during attach:\n{ps}"
    );
    ensure!(
        out.contains("you said: typed at the terminal") && out.contains("exit 0"),
        "townhall attach said:\n{out}"
    );
    ensure!(
        out.contains(&format!("session {id}")),
        "attach did not pick the conversation's session {id}:\n{out}"
    );
    let after = t.sh("ls /agents/vox | grep -c standin-record || true")?;
    ensure!(
        after.trim().parse::<u32>()? > before.trim().parse::<u32>()?,
        "the CLI did not run as vox"
    );
    let record = t.sh("cat \"$(ls -t /agents/vox/standin-record-* | head -n 1)\"")?;
    ensure!(
        record.contains("uid 1101 ") && record.contains(&format!("--resume {id}")),
        "the CLI at the terminal: {record}"
    );
    ensure!(
        record.contains("SSH_AUTH_SOCK=/run/townhall-sign/vox/agent.sock"),
        "attach's environment did not reach the CLI: {record}"
    );
    // Its workspace, notes, is persisted: `pwd -P` sees where the link leads.
    let in_workspace =
        record.contains("cwd /agents/vox/notes\n") || record.contains("cwd /persist/vox/notes\n");
    ensure!(
        in_workspace
            && record.contains("user@1101.service")
            && record.contains("townhall-attach-vox"),
        "not in vox's workspace and manager: {record}"
    );
    Ok(())
}
