//! Work that comes by itself (issue 25): a declared `[[schedule]]` and one a mayor makes
//! with `!every` each run as a PID 1 timer (`systemctl list-timers` shows it), fire a turn
//! whose answer comes to their room; `!unschedule` removes the timer; one that came due
//! while townhall was stopped runs once when it starts again (`Persistent=`); and ada's
//! push starts vox's `[[on]] push` turn only where vox's file allows ada.

use anyhow::{Context, ensure};

use crate::checks::chat::{ADA, VOX, block_on, room_with};
use crate::checks::rounds::as_ok;
use crate::support::town::Town;

const ADA_TOML: &str = "/etc/townhall/residents/ada.toml";

/// A resident's file as `change` makes it, reloaded; as it was when dropped.
struct Rewritten<'a> {
    t: &'a Town,
    path: std::path::PathBuf,
    declared: String,
}

impl<'a> Rewritten<'a> {
    fn set(t: &'a Town, file: &str, change: impl FnOnce(&str) -> String) -> anyhow::Result<Self> {
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
        let after = timers(t)?;
        ensure!(
            !after.contains(&unit),
            "{unit} outlived !unschedule: {after}"
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

const VOX_TOML: &str = "/etc/townhall/residents/vox.toml";

/// vox's file waiting `on`, with ada's Matrix ID in its allow or not.
fn vox_waits<'a>(t: &'a Town, allow_ada: bool, on: &str) -> anyhow::Result<Rewritten<'a>> {
    let password = "password_file = \"/run/secrets/townhall/vox-matrix-password\"";
    let allow = match allow_ada {
        true => format!("{password}\nallow = [\"@ada:town.test\"]"),
        false => password.to_string(),
    };
    Rewritten::set(t, VOX_TOML, |declared| {
        format!("{}\n{on}", declared.replace(password, &allow))
    })
}

pub fn ada_s_push_starts_vox_s_on_push_turn_only_where_vox_allows_ada(
    t: &Town,
) -> anyhow::Result<()> {
    let _clone = crate::checks::worktrees::InTheClone::set(t)?;
    block_on(async {
        let (mayor, room) = room_with(t, "vox reviews", &[VOX], true).await?;
        let on = format!(
            "[[on]]\npush = \"ada/*\"\nprompt = \"review {{branch}} by {{pusher}} with {{fetch}}\"\nroom = \"{room}\"\n"
        );
        let stamp = t.sh("date +%s%N")?;
        let push = |branch: &str| {
            as_ok(
                t,
                "ada",
                &format!(
                    "[ -r ~/.profile ] && . ~/.profile; cd ~/work/work && git commit -q --allow-empty -m {branch} && git push -q town HEAD:refs/heads/ada/{branch} 2>&1"
                ),
            )
        };
        let mark = mayor.mark(&room).await?;
        {
            // Without vox's allow for ada, her push starts nothing.
            let _waits = vox_waits(t, false, &on)?;
            push(&format!("unallowed-{}", stamp.trim()))?;
        }
        let _waits = vox_waits(t, true, &on)?;
        let allowed = format!("allowed-{}", stamp.trim());
        push(&allowed)?;
        // Barrier: both pushes' turns would share one conversation (ROOM/from:ada), in
        // order, so the first's answer would come before this one's.
        let got = mayor
            .wait_for_since(&room, VOX, &format!("📬 ada pushed `ada/{allowed}`"), &mark)
            .await
            .context("vox's [[on]] push turn never answered")?;
        ensure!(
            !got.iter().any(|(b, _)| b.contains("unallowed-")),
            "a push vox does not allow started a turn: {got:?}"
        );
        // What vox's CLI was asked: the prompt with the push's words filled in.
        let asked = t.sh("cat /agents/vox/standin-record-* | grep '^prompt review ' || true")?;
        ensure!(
            asked.contains(&format!(
                "prompt review ada/{allowed} by ada with git fetch /srv/townhall/git/"
            )) && asked.contains(&format!("refs/heads/ada/{allowed}")),
            "vox's prompt: {asked}"
        );
        ensure!(
            !asked.contains("unallowed-"),
            "vox was asked about the unallowed push: {asked}"
        );
        Ok(())
    })
}
