//! A resident's schedules as the room reads them, what a turn that came by itself (a
//! schedule, a town event) says above its answer, and why one did not come.

use townhall_wire::hall::{Came, ScheduleInfo};

/// One line: `N` (or where it is declared), when, what, and when next.
fn line(s: &ScheduleInfo) -> String {
    let whose = match (&s.declared, &s.by) {
        (Some(at), _) => format!("declared at {at}"),
        (None, Some(by)) => format!("made by {by}"),
        (None, None) => String::new(),
    };
    let next = s
        .next
        .as_deref()
        .map_or("never again".to_string(), |n| format!("next {n}"));
    let prompt: String = s.prompt.chars().take(80).collect();
    let more = if prompt.len() < s.prompt.len() {
        "…"
    } else {
        ""
    };
    format!(
        "- **{}** `{}`: {prompt}{more} — {next}, in {} ({whose})",
        s.id, s.on, s.room
    )
}

/// `!schedules` (and what `!every` and `!unschedule` leave).
pub fn schedules(resident: &str, list: &[ScheduleInfo]) -> String {
    if list.is_empty() {
        return format!(
            "_{resident} has no schedules; `!every \"SPEC\" PROMPT` makes one (SPEC in systemd's calendar syntax)._"
        );
    }
    let lines: Vec<String> = list.iter().map(line).collect();
    format!(
        "**{resident}'s schedules** (`!unschedule N` removes one made in chat):\n{}",
        lines.join("\n")
    )
}

/// Above an answer no message asked for.
pub fn came(c: &Came) -> String {
    match c {
        Came::Schedule { id, on } => format!("_⏰ schedule {id} (`{on}`)_"),
        Came::Event { what } => format!("_📬 {what}_"),
        Came::Resumed => "_⏵ resumed after the usage limit_".into(),
    }
}

/// A turn hit its provider's usage limit: when the conversation goes on.
pub fn parked(resident: &str, said: &str, at: &str, in_secs: u64) -> String {
    let wait = match in_secs {
        s if s >= 3600 => format!("{}h {}min", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    };
    format!(
        "_⏸ {resident} hit its usage limit (`{said}`). This conversation resumes by itself at {at} (in {wait}); what you send meanwhile waits for it. `!resume` runs it now, `!stop` cancels._"
    )
}

/// The hop limit stopped the turns residents' doings start in a room.
pub fn events_stopped(hops: u32) -> String {
    format!(
        "_Stopping here: {hops} turns in a row started by residents' pushes or devices. A human has to speak next._"
    )
}

/// A schedule that came due while its conversation's turn ran.
pub fn skipped(id: &str, on: &str) -> String {
    format!(
        "_⏰ schedule {id} (`{on}`) came due while this conversation's turn still ran: skipped this time._"
    )
}
