//! Turns that come by themselves: each resident's schedules, declared (`[[schedule]]`) or
//! made by a mayor in chat (`!every`, kept.rs), each a PID 1 timer (timers.rs) whose
//! service asks the daemon to fire it (`townhall fire RESIDENT ID`). The daemon decides
//! what runs; the timer only says when.

pub mod calendar;
mod fake;
pub mod kept;
mod timers;

pub use fake::{FakeTimers, HeldApply};
pub use kept::{Kept, Made};
pub use timers::{HostTimers, Timers, UNIT_DIR};

use crate::config::Town;

/// Every schedule's units are named `townhall-at-RESIDENT-ID.{timer,service}`.
pub const UNIT_PREFIX: &str = "townhall-at-";

/// One schedule of one resident, as its timer runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub resident: String,
    /// `N` for the chat's schedule N; `d` and a hash of what it says for a declared one
    /// (the same while its file says the same, so its timer keeps its last run).
    pub id: String,
    pub on: String,
    pub prompt: String,
    pub room: String,
    /// The conversation its turns run in.
    pub conversation: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Where the resident's file declares it.
    Declared(String),
    /// The mayor who made it with `!every`.
    Made { by: String },
}

impl Entry {
    /// Its units' name, without the suffix.
    pub fn unit(&self) -> String {
        format!("{UNIT_PREFIX}{}-{}", self.resident, self.id)
    }
}

/// A declared schedule's id: what it says, hashed (sha256, the first 10 hex digits).
fn declared_id(s: &crate::config::schedule::Schedule) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [&s.on, &s.prompt, &s.room, &s.conversation_key()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hex: String = h.finalize()[..5]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("d{hex}")
}

/// Every schedule of the town: each resident's declared ones, then those made in chat for
/// residents that are still declared.
pub fn all(town: &Town, made: &[Made]) -> Vec<Entry> {
    let declared = town.residents.iter().flat_map(|r| {
        r.schedules.iter().map(|s| Entry {
            resident: r.name.clone(),
            id: declared_id(s),
            on: s.on.clone(),
            prompt: s.prompt.clone(),
            room: s.room.clone(),
            conversation: s.conversation_key(),
            origin: Origin::Declared(format!("{}:{}", s.at.file.display(), s.at.line)),
        })
    });
    let made = made
        .iter()
        .filter(|m| town.resident(&m.resident).is_some())
        .map(|m| Entry {
            resident: m.resident.clone(),
            id: m.n.to_string(),
            on: m.on.clone(),
            prompt: m.prompt.clone(),
            room: m.room.clone(),
            conversation: m.room.clone(),
            origin: Origin::Made { by: m.by.clone() },
        });
    declared.chain(made).collect()
}

/// `%` is a specifier in unit files: written as `%%`.
fn unit_text(s: &str) -> String {
    s.replace('%', "%%")
}

/// The timer unit of `e`: bound to the daemon (stopped with it, started by it), its last
/// run stamped on disk so one missed while it was stopped runs once when it starts again.
pub fn timer_unit(e: &Entry) -> String {
    format!(
        "# Written by townhall for {resident}'s schedule {id}; rewritten at each start.\n\
         [Unit]\n\
         Description=townhall: {resident}'s schedule {id} ({on})\n\
         BindsTo=townhall.service\n\
         After=townhall.service\n\
         \n\
         [Timer]\n\
         OnCalendar={on}\n\
         Persistent=true\n\
         AccuracySec=1s\n\
         Unit={unit}.service\n",
        resident = e.resident,
        id = e.id,
        on = unit_text(&e.on),
        unit = e.unit(),
    )
}

/// The service the timer starts: it asks the daemon to fire the schedule, and returns.
pub fn service_unit(e: &Entry, exe: &std::path::Path) -> String {
    format!(
        "# Written by townhall for {resident}'s schedule {id}; rewritten at each start.\n\
         [Unit]\n\
         Description=townhall: fire {resident}'s schedule {id}\n\
         Requisite=townhall.service\n\
         After=townhall.service\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         ExecStart=\"{exe}\" fire {resident} {id}\n\
         NoNewPrivileges=yes\n\
         ProtectSystem=strict\n\
         ProtectHome=yes\n\
         PrivateTmp=yes\n\
         PrivateNetwork=yes\n",
        resident = e.resident,
        id = e.id,
        exe = unit_text(&exe.display().to_string()),
    )
}

#[cfg(test)]
mod tests;
