//! A resident's `[[schedule]]`s: turns that come by themselves at the times `on` names, in
//! systemd's calendar syntax. Whether systemd reads `on` is asked of systemd itself, after
//! loading (`load_checked`): the chat loads the config too, and has no systemd-analyze.

use serde::Serialize;

use super::raw::RawSchedule;
use super::validate::Checker;
use super::values as v;

/// Longest calendar spec, prompt and conversation name taken.
pub const MAX_SPEC: usize = 200;
pub const MAX_PROMPT: usize = 4000;
const MAX_CONVERSATION: usize = 40;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    /// When, as systemd's `OnCalendar=` reads it.
    pub on: String,
    pub prompt: String,
    /// The room ID the answer goes to.
    pub room: String,
    /// A conversation of its own in that room (its own CLI session), or the room's.
    pub conversation: Option<String>,
    /// Where `on` is written, for what is checked after loading.
    pub at: Place,
}

impl Schedule {
    /// The conversation its turns run in: the room's own, or `ROOM/NAME`.
    pub fn conversation_key(&self) -> String {
        match &self.conversation {
            Some(c) => format!("{}/{c}", self.room),
            None => self.room.clone(),
        }
    }
}

/// A place in a config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Place {
    pub file: std::path::PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A calendar spec as far as it can be judged without systemd: one line, not too long.
pub fn spec(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("the calendar spec is empty".into());
    }
    if s.chars().count() > MAX_SPEC {
        return Err(format!("the calendar spec is over {MAX_SPEC} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err("the calendar spec holds a control character".into());
    }
    Ok(())
}

/// A prompt that comes by itself: some words, not a book.
pub fn prompt(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("the prompt is empty".into());
    }
    if s.chars().count() > MAX_PROMPT {
        return Err(format!("the prompt is over {MAX_PROMPT} characters"));
    }
    Ok(())
}

/// A conversation's name: lowercase letters, digits and `-`.
fn conversation(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_CONVERSATION
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    match ok {
        true => Ok(()),
        false => Err(format!("`{s}` is not a conversation name")),
    }
}

pub(super) fn schedules(c: &mut Checker, raw: &[RawSchedule]) -> Vec<Schedule> {
    raw.iter()
        .filter_map(|s| {
            let on = c.ok(
                &s.on,
                spec(s.on.get_ref()),
                "write when in systemd's calendar syntax, e.g. \"Mon..Fri 07:00\" (man systemd.time)",
            );
            let prompt = c.ok(
                &s.prompt,
                prompt(s.prompt.get_ref()),
                "write what the resident is to do each time",
            );
            let room = c.ok(
                &s.room,
                v::room_id(s.room.get_ref()),
                "write the room's ID (!id:server; Element shows it under Settings › Advanced)",
            );
            // None: no name; Some(None): a name that failed its check.
            let name = s.conversation.as_ref().map(|n| {
                c.ok(
                    n,
                    conversation(n.get_ref()),
                    "use lowercase letters, digits and `-`, at most 40",
                )
                .map(|()| n.get_ref().clone())
            });
            let (line, column) = c.src.position(s.on.span().start);
            let at = Place {
                file: c.src.file.clone(),
                line,
                column,
            };
            Some(Schedule {
                on: on.map(|()| s.on.get_ref().clone())?,
                prompt: prompt.map(|()| s.prompt.get_ref().clone())?,
                room: room.map(|()| s.room.get_ref().clone())?,
                conversation: match name {
                    Some(n) => Some(n?),
                    None => None,
                },
                at,
            })
        })
        .collect()
}
