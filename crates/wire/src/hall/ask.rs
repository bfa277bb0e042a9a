//! What the chat asks of the daemon: one request per connection.

use serde::{Deserialize, Serialize};

use super::Reply;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Ask {
    /// Stay connected for notices, answers whose requester went away, and reloads.
    Subscribe,
    /// A turn for `resident`, asked by `sender` (a mayor or someone its allow names).
    Turn {
        resident: String,
        sender: String,
        conversation: String,
        prompt: String,
        reply: Reply,
    },
    Stop {
        resident: String,
        sender: String,
    },
    /// Run `resident`'s conversations parked by a usage limit now (`!resume`).
    Resume {
        resident: String,
        sender: String,
    },
    /// Forget the conversation's CLI session (`!new`).
    Forget {
        resident: String,
        sender: String,
        conversation: String,
    },
    Status {
        resident: String,
    },
    /// What the resident spent: this round, this conversation, earlier rounds (`!cost`).
    Cost {
        resident: String,
        conversation: String,
    },
    /// The conversation's CLI session id (`!session`).
    Session {
        resident: String,
        conversation: String,
    },
    Log {
        resident: String,
    },
    Branches {
        resident: String,
    },
    /// What the resident may reach and what was refused this round (`!network`); every
    /// resident's for a mayor.
    Network {
        resident: String,
        sender: String,
    },
    /// What ending the round would lose, per resident; `by` must be a mayor. With
    /// `resident`, of that resident's round alone.
    ResetReport {
        by: String,
        #[serde(default)]
        resident: Option<String>,
    },
    /// End the round: `resident`'s alone, or the whole town's when None; `by` must be a
    /// mayor.
    Reset {
        by: String,
        #[serde(default)]
        resident: Option<String>,
    },
    /// Take a checkpoint of `resident`'s home (`!checkpoint`); `by` must be a mayor.
    Checkpoint {
        resident: String,
        by: String,
        label: String,
    },
    /// `resident`'s checkpoints (`!checkpoints`).
    Checkpoints {
        resident: String,
    },
    /// Roll `resident`'s home back to its checkpoint `n`; `by` must be a mayor.
    Rollback {
        resident: String,
        by: String,
        n: u64,
    },
    /// A schedule for `resident` whose answers go to `room` (`!every`); `by`: a mayor.
    Every {
        resident: String,
        by: String,
        on: String,
        prompt: String,
        room: String,
    },
    /// `resident`'s schedules (`!schedules`).
    Schedules {
        resident: String,
    },
    /// Remove `resident`'s chat-made schedule `n` (`!unschedule`); `by`: a mayor.
    Unschedule {
        resident: String,
        by: String,
        n: u64,
    },
    /// An approver's ✅ (allow), ❌, or 🔁 (`round`: allow, and the same rule for the rest
    /// of the round) on `resident`'s approval `id`.
    Decide {
        id: u64,
        resident: String,
        by: String,
        allow: bool,
        round: bool,
    },
    /// `conversation`'s mode: shown, or one part changed (`!model`, `!effort`, `!plan`);
    /// `by`: someone the resident takes commands from.
    Mode {
        resident: String,
        by: String,
        conversation: String,
        change: super::ModeChange,
    },
    /// What `resident` spent per day over the last `days` days (`!usage`); `by`: someone it
    /// takes commands from.
    Usage {
        resident: String,
        by: String,
        days: u32,
    },
    /// `resident`'s last `n` audit entries (`!audit`); `by`: a mayor.
    History {
        resident: String,
        by: String,
        n: u32,
    },
    /// The rules allowed for the rest of `resident`'s round (`!approvals`); with `clear`,
    /// taken back first (`by`: one of its approvers).
    Approvals {
        resident: String,
        by: String,
        clear: bool,
    },
    /// `by`'s answer to question `id` of `resident`'s: a choice they reacted with, or
    /// what they replied.
    Answer {
        id: u64,
        resident: String,
        by: String,
        answer: String,
    },
    /// How the upload of file `id` (Said::SendFile) went: None when it is in the room.
    FileSent {
        id: u64,
        error: Option<String>,
    },
    /// Present devices the rules match, their holders and leases (`!devices`).
    Devices,
    /// Lend `device` (as `!devices` names it) to `resident` for `secs`; `by`: a mayor.
    Lease {
        by: String,
        device: String,
        resident: String,
        secs: u64,
    },
    /// End the leases on `device`; `by`: a mayor.
    Release {
        by: String,
        device: String,
    },
    /// Stream the serial console's output here until Untail or the device goes; `by`: a
    /// mayor. `baud` overrides the rule's.
    Tail {
        by: String,
        device: String,
        baud: Option<u32>,
    },
    Untail {
        by: String,
        device: String,
    },
    /// A file `sender` sent, spooled by the chat at `spool`: into the resident's inbox, and
    /// named in the conversation's next prompt.
    File {
        resident: String,
        sender: String,
        conversation: String,
        name: String,
        mimetype: String,
        spool: String,
    },
    /// The answer with this id reached its room: forget it.
    Delivered {
        id: u64,
    },
    /// How the resident's Matrix sync is doing, for `townhall status`.
    Health {
        resident: String,
        health: String,
    },
    /// Something the chat refused, for the audit log.
    Audit {
        resident: String,
        what: Refused,
        from: String,
        room: String,
        why: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refused {
    InviteDeclined,
    MessageIgnored,
}

impl Refused {
    /// The audit log's name for it.
    pub fn event(self) -> &'static str {
        match self {
            Refused::InviteDeclined => "invite-declined",
            Refused::MessageIgnored => "message-ignored",
        }
    }
}
