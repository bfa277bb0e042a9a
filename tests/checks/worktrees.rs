//! A worktree per conversation (issue 24): with ada's workspace a clone of the town remote,
//! two threads run at once, each committing and pushing in a worktree and branch of its
//! own; a conversation keeps its worktree across a restart; `!branches` marks uncommitted
//! work; the reset's loss report counts each worktree and the repository forgets them
//! after it; and a `~/.worktrees` ada points elsewhere leads root nowhere.

use anyhow::{Context, ensure};

use crate::checks::chat::{ADA, block_on, room_with};
use crate::checks::rounds::as_ok;
use crate::support::town::Town;

const REMOTE: &str = "/srv/townhall/git/work.git";
const ADA_TOML: &str = "/etc/townhall/residents/ada.toml";

/// ada's workspace is her clone of the town remote (with a commit to branch from) and her
/// turns may wait 30 s, in a round of her own begun for the check; her file as it was
/// when dropped.
pub(crate) struct InTheClone<'a> {
    t: &'a Town,
    declared: String,
}

impl<'a> InTheClone<'a> {
    pub(crate) fn set(t: &'a Town) -> anyhow::Result<Self> {
        crate::checks::turns::setup(t)?;
        let path = t.run.join(format!("root{ADA_TOML}"));
        let declared = std::fs::read_to_string(&path)?;
        let changed = declared
            .replace("workspace = \"work\"", "workspace = \"work/work\"")
            .replace("turn_timeout = \"3s\"", "turn_timeout = \"30s\"");
        ensure!(changed.contains("work/work"), "ada's file: {declared}");
        std::fs::write(&path, changed)?;
        let me = Self { t, declared };
        t.sh("townhall reload && townhall reset ada --yes --by worktrees >/dev/null 2>&1")?;
        as_ok(
            t,
            "ada",
            "[ -r ~/.profile ] && . ~/.profile; cd ~/work/work && { git rev-parse -q --verify HEAD >/dev/null || git commit -q --allow-empty -m base; }",
        )?;
        Ok(me)
    }
}

impl Drop for InTheClone<'_> {
    fn drop(&mut self) {
        let path = self.t.run.join(format!("root{ADA_TOML}"));
        let _ = std::fs::write(path, &self.declared);
        let _ = self.t.sh("townhall reload");
    }
}

/// The branch an answer says it pushed: `pushed BRANCH seeing …`.
fn pushed(answer: &str) -> Option<&str> {
    answer.split("pushed ").nth(1)?.split_whitespace().next()
}

pub fn two_threads_with_ada_work_at_once_each_in_a_worktree_of_its_own(
    t: &Town,
) -> anyhow::Result<()> {
    let _clone = InTheClone::set(t)?;
    let answers = block_on(async {
        let (mayor, room) = room_with(t, "ada worktrees", &[ADA], true).await?;
        let root = mayor.say(&room, "threads begin").await?;
        // The room's own conversation has a worktree and branch of its own too; its
        // answer as it ends names the branch.
        mayor
            .wait_for(&room, ADA, "on branch `ada/conv-threads-begin")
            .await
            .context("the room's own conversation names no branch of its own")?;
        let other = mayor.say(&room, "another root").await?;
        mayor.wait_for(&room, ADA, "you said: another root").await?;
        // A thread under each: both at once, each turn waiting for the other to commit.
        mayor.say_in_thread(&room, &root, "together a").await?;
        mayor.say_in_thread(&room, &other, "together b").await?;
        // Each answer as it ends: with the footer naming its branch.
        let a = mayor
            .wait_for(&room, ADA, "on branch `ada/conv-together-a")
            .await?;
        let b = mayor
            .wait_for(&room, ADA, "on branch `ada/conv-together-b")
            .await?;
        // The answer as it ended: the last edit of it, with its footer.
        let find = |msgs: &[(String, bool)], what: &str| {
            msgs.iter()
                .rev()
                .map(|(b, _)| b.clone())
                .find(|b| b.contains(what) && b.contains("on branch"))
                .unwrap_or_default()
        };
        anyhow::Ok((
            find(&a, "pushed ada/conv-together-a"),
            find(&b, "pushed ada/conv-together-b"),
        ))
    })?;
    for (answer, mine, theirs) in [(&answers.0, "a", "b"), (&answers.1, "b", "a")] {
        let branch = pushed(answer).context("no branch in the answer")?;
        ensure!(
            answer.contains(&format!("file-{mine}")) && !answer.contains(&format!("file-{theirs}")),
            "turn {mine} saw the other's file, or not its own: {answer}"
        );
        ensure!(
            answer.contains(&format!("on branch `{branch}`")),
            "the footer does not name {branch}: {answer}"
        );
        let tree = t.sh(&format!(
            "git -c safe.directory='*' -C {REMOTE} ls-tree --name-only refs/heads/{branch}"
        ))?;
        ensure!(
            tree.lines().any(|l| l == format!("file-{mine}"))
                && !tree.lines().any(|l| l == format!("file-{theirs}")),
            "{branch} on the town remote: {tree}"
        );
    }
    Ok(())
}

pub fn a_conversation_keeps_its_worktree_and_ada_s_reset_reports_then_prunes_it(
    t: &Town,
) -> anyhow::Result<()> {
    let _clone = InTheClone::set(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada worktree kept", &[ADA], true).await?;
        mayor.say(&room, "scribble here").await?;
        mayor
            .wait_for(&room, ADA, "/.worktrees/scribble-here")
            .await?;
        // The conversation keeps its worktree across a restart of the daemon.
        t.sh("systemctl restart townhall")?;
        crate::checks::chat::online(t, "ada")?;
        mayor.say(&room, "where now").await?;
        mayor
            .wait_for(
                &room,
                ADA,
                "/.worktrees/scribble-here on ada/conv-scribble-here",
            )
            .await?;
        mayor.say(&room, "!branches").await?;
        let msgs = mayor.wait_for(&room, ADA, "**worktrees**").await?;
        ensure!(
            msgs.iter().any(|(b, _)| b
                .lines()
                .any(|l| l.contains("`ada/conv-scribble-here`") && l.contains("✎ 1 uncommitted"))),
            "!branches does not mark the worktree with uncommitted work: {msgs:?}"
        );
        mayor.say(&room, "!reset").await?;
        let msgs = mayor.wait_for(&room, ADA, "Reply `!reset yes`").await?;
        ensure!(
            msgs.iter().any(|(b, _)| b
                .lines()
                .any(|l| l.contains(".worktrees/scribble-here")
                    && l.contains("1 uncommitted change"))),
            "the loss report does not count the worktree: {msgs:?}"
        );
        mayor.say(&room, "!reset yes").await?;
        mayor.wait_for(&room, ADA, "begins").await?;
        Ok(())
    })?;
    // After the report, her persisted repository forgets the worktree the reset took.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let listed = as_ok(t, "ada", "git -C ~/work/work worktree list --porcelain")?;
        if !listed.contains("scribble-here") {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the worktree was not pruned after the reset: {listed}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    as_ok(t, "ada", "test ! -e ~/.worktrees")?;
    Ok(())
}

/// As ada who attacks: her `~/.worktrees` is a link into root's state dir. The worktree is
/// made by git as ada, so it fails there; the conversation runs in the workspace, and
/// nothing appears in root's dir.
pub fn a_worktrees_link_ada_points_at_root_s_state_leads_nowhere(t: &Town) -> anyhow::Result<()> {
    let _clone = InTheClone::set(t)?;
    as_ok(t, "ada", "ln -s /var/lib/townhall ~/.worktrees")?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada worktree link", &[ADA], true).await?;
        mayor.say(&room, "where linked").await?;
        // The answer as it ends says why it ran in the shared workspace, and ran there.
        let msgs = mayor
            .wait_for(&room, ADA, "shared workspace this round")
            .await?;
        ensure!(
            msgs.iter()
                .any(|(b, _)| b.contains("/work/work on ") && b.contains("shared workspace")),
            "the turn did not run in the workspace: {msgs:?}"
        );
        Ok(())
    })?;
    let there = t.sh("ls -A /var/lib/townhall | grep -c '^where-linked' || true")?;
    ensure!(
        there.trim() == "0",
        "a worktree appeared in root's state dir"
    );
    Ok(())
}

/// A rollback at root's terminal to a checkpoint older than a conversation's worktree: the
/// conversation is placed again at its next turn (a worktree of the new first words), not
/// sent to a directory the home no longer has; so is one whose worktree ada removed.
pub fn after_a_rollback_ada_s_conversation_gets_a_worktree_again(t: &Town) -> anyhow::Result<()> {
    let _clone = InTheClone::set(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "ada worktree rollback", &[ADA], true).await?;
        mayor.say(&room, "!checkpoint before the worktree").await?;
        let msgs = mayor.wait_for(&room, ADA, "of ada's home taken").await?;
        let n = crate::checks::alone::checkpoint_number(&msgs)?;
        mayor.say(&room, "scribble first").await?;
        mayor
            .wait_for(&room, ADA, "/.worktrees/scribble-first")
            .await?;
        t.sh(&format!("townhall rollback ada {n} --yes >/dev/null"))?;
        as_ok(t, "ada", "test ! -e ~/.worktrees/scribble-first")?;
        mayor.say(&room, "where after").await?;
        mayor
            .wait_for(
                &room,
                ADA,
                "/.worktrees/where-after on ada/conv-where-after",
            )
            .await
            .context("the conversation was not placed again after the rollback")?;
        // Ada removes her conversation's worktree: its turn says so, and the next is
        // placed again.
        as_ok(t, "ada", "rm -rf ~/.worktrees/where-after")?;
        mayor.say(&room, "where gone").await?;
        mayor
            .wait_for(&room, ADA, "~/.worktrees/where-after is no longer there")
            .await?;
        mayor.say(&room, "where next").await?;
        mayor
            .wait_for(&room, ADA, "/.worktrees/where-next on ada/conv-where-next")
            .await?;
        Ok(())
    })
}
