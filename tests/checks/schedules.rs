//! Work that comes by itself (issue 25): a declared `[[schedule]]` and one a mayor makes
//! with `!every` each run as a PID 1 timer (`systemctl list-timers` shows it), fire a turn
//! whose answer comes to their room; `!unschedule` removes the timer; one that came due
//! while townhall was stopped runs once when it starts again (`Persistent=`); one that
//! comes due while its conversation's turn still runs is skipped, and the room told.

use anyhow::{Context, ensure};

use crate::checks::chat::{ADA, VOX, block_on, room_with};
use crate::support::town::Town;

pub(crate) const ADA_TOML: &str = "/etc/townhall/residents/ada.toml";
pub(crate) const VOX_TOML: &str = "/etc/townhall/residents/vox.toml";

/// A resident's file as `change` makes it, reloaded; as it was when dropped.
pub(crate) struct Rewritten<'a> {
    t: &'a Town,
    path: std::path::PathBuf,
    declared: String,
}

impl<'a> Rewritten<'a> {
    pub(crate) fn set(
        t: &'a Town,
        file: &str,
        change: impl FnOnce(&str) -> String,
    ) -> anyhow::Result<Self> {
        let path = t.run.join(format!("root{file}"));
        let declared = std::fs::read_to_string(&path)?;
        std::fs::write(&path, change(&declared))?;
        let me = Self { t, path, declared };
        t.sh("townhall reload")?;
        Ok(me)
    }
}

impl Drop for Rewritten<'_> {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.path, &self.declared);
        let _ = self.t.sh("townhall reload");
    }
}

/// ada's file with `schedules` added after [git], its last table (so nothing below is
/// read into them), her turns the stand-in's.
fn scheduled<'a>(t: &'a Town, schedules: &str) -> anyhow::Result<Rewritten<'a>> {
    crate::checks::turns::setup(t)?;
    Rewritten::set(t, ADA_TOML, |declared| format!("{declared}\n{schedules}"))
}

/// ada's schedule timers PID 1 has now.
fn timers(t: &Town) -> anyhow::Result<String> {
    t.sh("systemctl list-timers --all --no-legend --no-pager 'townhall-at-ada-*' || true")
}

/// The schedule number `!every` gave: `**N** \`SPEC\`: PROMPT`.
fn number(list: &str, prompt: &str) -> Option<u64> {
    list.lines()
        .find(|l| l.contains(prompt))?
        .split("**")
        .nth(1)?
        .parse()
        .ok()
}

pub fn a_declared_and_a_chat_made_schedule_fire_into_their_room_until_unscheduled(
    t: &Town,
) -> anyhow::Result<()> {
    block_on(async {
        let (mayor, room) = room_with(t, "ada schedules", &[ADA], true).await?;
        let _declared = scheduled(
            t,
            &format!(
                "[[schedule]]\non = \"*:*:00/10\"\nprompt = \"declared tick\"\nroom = \"{room}\"\nconversation = \"ticks\"\n"
            ),
        )?;
        let listed = timers(t)?;
        ensure!(
            listed.contains("townhall-at-ada-d"),
            "list-timers shows no declared schedule: {listed}"
        );
        mayor.mark(&room).await?;
        let got = mayor
            .wait_for(&room, ADA, "you said: declared tick")
            .await
            .context("the declared schedule's answer never came")?;
        ensure!(
            got.iter()
                .any(|(b, _)| b.contains("⏰ schedule d") && b.contains("declared tick")),
            "the answer does not say the schedule sent it: {got:?}"
        );
        // A mayor's, in another second of the ten so the two do not meet.
        mayor.say(&room, "!every \"*:*:05/10\" made tick").await?;
        let said = mayor.wait_for(&room, ADA, "made tick").await?;
        let list = said
            .iter()
            .map(|(b, _)| b.as_str())
            .find(|b| b.contains("schedules"))
            .context("no list after !every")?;
        let n = number(list, "made tick").with_context(|| format!("no number in {list}"))?;
        let unit = format!("townhall-at-ada-{n}");
        ensure!(
            timers(t)?.contains(&unit),
            "no {unit} timer: {}",
            timers(t)?
        );
        mayor
            .wait_for(&room, ADA, "you said: made tick")
            .await
            .context("the chat-made schedule's answer never came")?;
        mayor.say(&room, &format!("!unschedule {n}")).await?;
        mayor.wait_for(&room, ADA, "schedules").await?;
        // PID 1 unloads the units once their stop jobs are done: soon, not at once.
        t.sh(&format!(
            "i=0; while systemctl list-timers --all --no-legend --no-pager '{unit}.timer' | grep -q .; do [ $i -ge 50 ] && break; sleep 0.2; i=$((i+1)); done"
        ))?;
        let after = timers(t)?;
        ensure!(
            !after.contains(&unit),
            "{unit} outlived !unschedule by 10 s: {after}"
        );
        let left = t.sh(&format!(
            "ls /run/systemd/system/{unit}.* 2>/dev/null || true"
        ))?;
        ensure!(left.trim().is_empty(), "its units stayed: {left}");
        Ok(())
    })
}

pub fn a_schedule_missed_while_townhall_was_stopped_runs_once_when_it_starts(
    t: &Town,
) -> anyhow::Result<()> {
    block_on(async {
        let (mayor, room) = room_with(t, "ada missed", &[ADA], true).await?;
        // Once, 15 s from now: it comes due while townhall is stopped.
        let at = t.sh("date -u -d '+15 sec' '+%Y-%m-%d %H:%M:%S UTC'")?;
        let at = at.trim();
        let _declared = scheduled(
            t,
            &format!("[[schedule]]\non = \"{at}\"\nprompt = \"missed tick\"\nroom = \"{room}\"\n"),
        )?;
        ensure!(
            timers(t)?.contains("townhall-at-ada-d"),
            "no timer: {}",
            timers(t)?
        );
        t.sh("systemctl stop townhall")?;
        // Fixture, not proof: the due time passes while the daemon is down.
        t.sh(&format!(
            "until [ $(date -u +%s) -gt $(( $(date -u -d '{at}' +%s) + 2 )) ]; do sleep 0.5; done"
        ))?;
        let mark = mayor.mark(&room).await?;
        t.sh("systemctl start townhall townhall-chat")?;
        crate::checks::chat::online(t, "ada")?;
        mayor
            .wait_for(&room, ADA, "you said: missed tick")
            .await
            .context("the missed schedule did not run after the start")?;
        // Barrier: an answer after it shows a second run would have come by now.
        mayor.say(&room, "after the catch-up").await?;
        mayor
            .wait_for(&room, ADA, "you said: after the catch-up")
            .await?;
        let all = mayor
            .wait_for_since(&room, ADA, "after the catch-up", &mark)
            .await?;
        let runs = all
            .iter()
            .filter(|(b, edit)| !edit && b.contains("⏰ schedule"))
            .count();
        ensure!(runs == 1, "the missed schedule ran {runs} times: {all:?}");
        Ok(())
    })
}

pub fn a_schedule_due_while_its_conversation_s_turn_runs_is_skipped_and_said(
    t: &Town,
) -> anyhow::Result<()> {
    crate::checks::turns::setup(t)?;
    let tag = t.sh("date +%s%N")?.trim().to_string();
    block_on(async {
        let (mayor, room) = room_with(t, "vox skipped", &[VOX], true).await?;
        // Once, 15 s from now, in the room's own conversation (no `conversation`).
        let at = t.sh("date -u -d '+15 sec' '+%Y-%m-%d %H:%M:%S UTC'")?;
        let at = at.trim();
        let prompt = format!("skipped tick {tag}");
        let _declared = Rewritten::set(t, VOX_TOML, |d| {
            format!("{d}\n[[schedule]]\non = \"{at}\"\nprompt = \"{prompt}\"\nroom = \"{room}\"\n")
        })?;
        // vox's turn there streams on (a tick each 0.2 s, up to a minute) past the due time.
        t.sh("rm -f /agents/vox/ticks-stop")?;
        mayor.say(&room, &format!("ticks {tag}")).await?;
        mayor
            .wait_for(&room, VOX, "tick 1 ")
            .await
            .context("vox's ticking turn did not start")?;
        let due = t.sh(&format!(
            "[ $(date -u +%s) -lt $(date -u -d '{at}' +%s) ] && echo before || echo after"
        ))?;
        ensure!(
            due.trim() == "before",
            "the ticking turn started only after the schedule came due ({at})"
        );
        let got = mayor
            .wait_for(
                &room,
                VOX,
                "came due while this conversation's turn still ran",
            )
            .await
            .context("the room was not told the schedule was skipped")?;
        ensure!(
            got.iter().any(|(b, _)| b.contains("⏰ schedule d")),
            "the notice does not name the schedule: {got:?}"
        );
        t.sh("touch /agents/vox/ticks-stop")?;
        mayor
            .wait_for(&room, VOX, "ticked ")
            .await
            .context("the ticking turn did not end")?;
        // Barrier: had the schedule's prompt been queued instead, it would run before (or
        // with) the next message in the same conversation.
        let after = format!("after the skip {tag}");
        mayor.say(&room, &after).await?;
        crate::checks::limits::until_vox_ran(t, &after)?;
        let ran = crate::checks::limits::runs(t, &prompt)?;
        ensure!(
            ran.is_empty(),
            "the skipped schedule ran anyway ({} runs)",
            ran.len()
        );
        Ok(())
    })
}
