//! What turns spend (issue 13): each real CLI's recorded lines, replayed by the stand-in
//! as that CLI, are counted from the CLI's own usage reports and shown under the answer,
//! in `!cost`, `!status` and `townhall status --json`; a spent budget refuses the next turn
//! with a notice. The ledger is root's: nothing the resident can edit.

use anyhow::ensure;

use crate::checks::chat::{block_on, room_with};
use crate::support::town::{Town, repo};

const VOX: &str = "@vox:town.test";

/// vox's residents/vox.toml as given until dropped, then put back (and reloaded).
struct VoxAs<'a> {
    t: &'a Town,
    toml: String,
}

impl<'a> VoxAs<'a> {
    fn set(t: &'a Town, toml: &str) -> anyhow::Result<Self> {
        let path = t.run.join("root/etc/townhall/residents/vox.toml");
        let before = std::fs::read_to_string(&path)?;
        std::fs::write(&path, toml)?;
        t.sh("townhall reload")?;
        Ok(Self { t, toml: before })
    }
}

impl Drop for VoxAs<'_> {
    fn drop(&mut self) {
        let _ = std::fs::write(
            self.t.run.join("root/etc/townhall/residents/vox.toml"),
            &self.toml,
        );
        let _ = self.t.sh("townhall reload");
    }
}

fn vox_spent(t: &Town) -> anyhow::Result<serde_json::Value> {
    spent(t, "vox")
}

/// `name`'s spending this round, as `townhall status --json` shows it.
pub(crate) fn spent(t: &Town, name: &str) -> anyhow::Result<serde_json::Value> {
    let status: serde_json::Value = serde_json::from_str(&t.sh("townhall status --json")?)?;
    let found = status["residents"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == name)
        .cloned();
    Ok(found.map(|v| v["spent"].clone()).unwrap_or_default())
}

/// vox's file as the stand-in on `kind`, with `budget` lines under [budget].
fn vox_on(t: &Town, kind: &str, budget: &str) -> anyhow::Result<String> {
    let toml = std::fs::read_to_string(t.run.join("root/etc/townhall/residents/vox.toml"))?;
    let toml: String = toml
        .lines()
        .filter(|l| !l.starts_with("argv = "))
        .map(|l| {
            if l.starts_with("kind = ") {
                format!("kind = \"{kind}\"\nargv = [\"/usr/local/bin/standin\"]\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    Ok(format!("{toml}\n[budget]\n{budget}\n"))
}

pub fn what_turns_spend_is_shown_and_a_spent_budget_stops_turns(t: &Town) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let dest = t.run.join("root/usr/local/share/townhall-recorded");
    std::fs::create_dir_all(&dest)?;
    for f in std::fs::read_dir(repo().join("src/turn/drivers/recorded"))? {
        let f = f?.path();
        std::fs::copy(&f, dest.join(f.file_name().unwrap_or_default()))?;
    }
    // Whatever vox spent before this check, plus room for two of claude's recorded turns
    // ($0.000288 each) and not a third.
    let before = vox_spent(t)?["cost_usd"].as_f64().unwrap_or(0.0);
    let claude = vox_on(
        t,
        "claude",
        &format!("usd = {}\nshow_from_usd = 0.0", before + 0.0005),
    )?;
    block_on(async {
        let vox = VoxAs::set(t, &claude)?;
        let (mayor, room) = room_with(t, "vox spends", &[VOX], true).await?;
        // Its real result line: $0.000288, 22 tokens in, 10 out, under the answer.
        mayor.say(&room, "replay claude-2.1.332-tool").await?;
        mayor
            .wait_for(
                &room,
                VOX,
                "this turn: $0.000288 · 22 in / 10 out tokens · 1 turn(s)",
            )
            .await?;
        mayor
            .say(&room, "replay claude-2.1.332-tool-refused")
            .await?;
        mayor
            .wait_for(
                &room,
                VOX,
                "this conversation this round: $0.000576 · 44 in / 20 out tokens · 2 turn(s)",
            )
            .await?;
        mayor.say(&room, "!cost").await?;
        let said = mayor
            .wait_for(
                &room,
                VOX,
                "this conversation: $0.000576 · 44 in / 20 out tokens · 2 turn(s)",
            )
            .await?;
        ensure!(
            said.iter().any(|(b, _)| b.contains("(budget $")),
            "!cost does not name the budget: {said:?}"
        );
        mayor.say(&room, "!status").await?;
        mayor.wait_for(&room, VOX, "- spent this round: $").await?;
        let spent = vox_spent(t)?;
        let now = spent["cost_usd"].as_f64().unwrap_or(0.0);
        ensure!(
            (now - before - 0.000576).abs() < 1e-9,
            "townhall status --json says vox spent {spent} (from {before})"
        );
        // The budget is spent: the next message runs no turn and says why.
        mayor.say(&room, "replay claude-2.1.332-first").await?;
        let said = mayor.wait_for(&room, VOX, "of this round's budget").await?;
        ensure!(
            !said
                .iter()
                .any(|(b, _)| b.contains("hello from the stand-in")),
            "the over-budget turn ran: {said:?}"
        );
        drop(vox);

        // Token-only CLIs: codex's thread total and gemini's stats, per turn.
        for (kind, lines, figures) in [
            (
                "codex",
                "codex-0.171.0-tool",
                "222 in / 44 out tokens · 1 turn(s)",
            ),
            (
                "gemini",
                "gemini-0.61.0-tool",
                "69 in / 15 out tokens · 1 turn(s)",
            ),
        ] {
            let _vox = VoxAs::set(t, &vox_on(t, kind, "show_from_tokens = 1")?)?;
            let (mayor, room) =
                room_with(t, &format!("vox spends on {kind}"), &[VOX], true).await?;
            mayor.say(&room, &format!("replay {lines}")).await?;
            mayor
                .wait_for(&room, VOX, &format!("this turn: {figures}"))
                .await?;
            mayor.say(&room, "!cost").await?;
            mayor
                .wait_for(&room, VOX, &format!("this conversation: {figures}"))
                .await?;
        }
        anyhow::Ok(())
    })
}
