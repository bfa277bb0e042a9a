//! The hall: the counter between `townhall chat` (unprivileged, holds every Matrix
//! connection) and the root daemon. The chat process asks with typed, versioned requests,
//! one per connection, one JSON line each; the daemon answers with event lines.
//!
//! The daemon trusts nothing it reads here: it checks the peer's uid (SO_PEERCRED) and
//! re-validates every request against the town (validate.rs), so a compromised chat
//! process can ask for what a mayor could ask in a room, and nothing more.

mod client;
mod validate;

pub use client::{Counter, HallError, Replies};
pub use validate::{MAX_PROMPT, Refusal, validate};

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Bumped when a request or event changes shape; both sides must agree.
pub const VERSION: u32 = 1;
/// The longest request line the daemon reads (a prompt is at most MAX_PROMPT).
pub const MAX_LINE: usize = 256 * 1024;
/// The chat process's system user (dist/townhall.sysusers, the NixOS module).
pub const CHAT_USER: &str = "townhall-chat";
pub const CHAT_UNIT: &str = "townhall-chat.service";

/// Reachable by anyone (mode 0666), answered only for the chat user and root: the uid
/// check is the gate, and it is what the town tests probe.
pub fn socket() -> &'static Path {
    Path::new("/run/townhall-hall.sock")
}

/// Where a turn's answer goes: the room, the thread, and the message it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub room: String,
    pub thread: Option<String>,
    pub event: String,
}

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
    /// What ending the round would lose, per resident; `by` must be a mayor.
    ResetReport {
        by: String,
    },
    /// End the round; `by` must be a mayor.
    Reset {
        by: String,
    },
    /// A mayor's ✅ (allow) or ❌ on approval `id`.
    Decide {
        id: u64,
        by: String,
        allow: bool,
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

/// One request line: the protocol version beside the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    #[serde(flatten)]
    pub ask: Ask,
}

impl Envelope {
    pub fn new(ask: Ask) -> Self {
        Self { v: VERSION, ask }
    }
}

/// An answer kept until the chat says it reached the room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: u64,
    pub resident: String,
    pub reply: Reply,
    pub text: String,
    pub errors: Vec<String>,
    /// None when the turn could not run at all (why in `errors`).
    pub outcome: Option<crate::turn::Outcome>,
}

/// Something to say in a resident's declared rooms (the words are the chat's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    DeviceGranted {
        devnode: String,
        read_write: bool,
    },
    DeviceGone {
        devnode: String,
    },
    /// `lease_ended`: it was lent, and the lease is over.
    DeviceRevoked {
        devnode: String,
        #[serde(default)]
        lease_ended: bool,
    },
    /// An accepted push: one per ref it changed.
    Pushed {
        pusher: String,
        repo: String,
        path: String,
        refname: String,
        commits: String,
        stat: String,
    },
    /// What the reset that began `round` could not do for the resident, one line each.
    RoundBegan {
        round: u64,
        lines: Vec<String>,
    },
    /// What round `round` held of the resident's that its end lost (read from the retired
    /// round after a confirmed reset), one line each; none when nothing was lost.
    RoundLost {
        round: u64,
        lines: Vec<String>,
    },
}

/// One repository of the town remote the resident may push to, and its branches there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepoBranches {
    pub repo: String,
    pub path: String,
    pub branches: Vec<Branch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    pub name: String,
    pub commit: String,
    pub when: String,
    pub subject: String,
}

/// What `!status` shows of one resident (the words are the chat's).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResidentReport {
    pub resident: String,
    pub round: u64,
    pub uptime_secs: u64,
    pub turns: Vec<crate::turn::RunningTurn>,
    pub processes: usize,
    pub memory_bytes: u64,
    pub cpu_ms: u64,
    pub chat: String,
    pub last_reset: Vec<String>,
    /// Messages waiting for their conversation's next turn.
    #[serde(default)]
    pub waiting: usize,
    /// What its turns spent this round, and its budget.
    #[serde(default)]
    pub spent: crate::turn::Spent,
    #[serde(default)]
    pub budget_usd: Option<f64>,
    #[serde(default)]
    pub budget_tokens: Option<u64>,
}

/// What `!cost` shows of one resident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CostReport {
    pub resident: String,
    pub round: u64,
    /// This round's totals; then the asking conversation's share.
    pub spent: crate::turn::Spent,
    pub conversation: crate::turn::Spent,
    /// Earlier rounds kept, newest first.
    pub rounds: Vec<(u64, crate::turn::Spent)>,
    pub budget_usd: Option<f64>,
    pub budget_tokens: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResetSummary {
    pub round: u64,
    pub duration_ms: u64,
    pub warnings: Vec<String>,
}

/// What the daemon says back. Tagged `said`: `Turn` carries a TurnEvent, tagged `event`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "said", rename_all = "snake_case")]
pub enum Said {
    Welcome {
        version: u32,
    },
    /// Say `text` in the resident's declared rooms (device grants, pushes, reset reports).
    Notice {
        resident: String,
        notice: Notice,
    },
    /// An answer whose requester went away (the chat restarted): post it.
    Deliver(Delivery),
    /// The configuration changed: read it again.
    Reloaded,
    Turn(crate::turn::TurnEvent),
    /// The message is on disk and its turn starts now: its answer comes, here or (should
    /// this connection end) as a delivery.
    Accepted,
    /// The conversation is busy: this message waits (`waiting` do, itself included) and
    /// goes into its next turn with the others. On disk, like Accepted.
    Gathered {
        waiting: usize,
    },
    /// Answered together with the earlier message `into`: nothing more comes here.
    Joined {
        into: String,
    },
    /// The turn ended (or could not run: `error`); its answer is `delivery` until the
    /// chat says Delivered.
    TurnDone {
        delivery: u64,
        outcome: Option<crate::turn::Outcome>,
        error: Option<String>,
    },
    Stopped {
        turns: u32,
    },
    Status(ResidentReport),
    Cost(CostReport),
    Session {
        id: Option<String>,
    },
    LastTurn {
        outcome: Option<crate::turn::Outcome>,
    },
    Branches {
        repos: Vec<RepoBranches>,
    },
    Losses {
        residents: Vec<crate::round::Losses>,
    },
    /// Where a sent file was saved.
    Filed {
        path: String,
    },
    ResetDone(ResetSummary),
    Devices {
        devices: Vec<crate::grant::DeviceStatus>,
    },
    Leased(crate::grant::Lease),
    Released {
        leases: Vec<crate::grant::Lease>,
    },
    /// A tail began: `Serial` batches follow, then `TailEnded`.
    Tailing {
        devnode: String,
        baud: Option<u32>,
    },
    /// Markdown: a code block of what the console printed.
    Serial {
        text: String,
    },
    TailEnded {
        why: String,
    },
    /// A tool call waits for a mayor: ask in `room` (and `thread`), for `wait_secs`.
    Approval {
        id: u64,
        resident: String,
        room: String,
        thread: Option<String>,
        tool: String,
        subject: String,
        rule: String,
        wait_secs: u64,
    },
    /// How approval `id` ended (a mayor's decision, or the timeout's no).
    ApprovalEnded {
        id: u64,
        resident: String,
        allow: bool,
        reason: String,
    },
    Done,
    Error {
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_their_version_beside_the_tag() {
        let line = serde_json::to_string(&Envelope::new(Ask::Stop {
            resident: "ada".into(),
            sender: "@mayor:town.test".into(),
        }))
        .unwrap();
        assert_eq!(
            line,
            r#"{"v":1,"request":"stop","resident":"ada","sender":"@mayor:town.test"}"#
        );
        let back: Envelope = serde_json::from_str(&line).unwrap();
        for r in [Refused::InviteDeclined, Refused::MessageIgnored] {
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                r.event(),
                "one name on the wire and in the audit log"
            );
        }
        assert_eq!(
            back.ask,
            Ask::Stop {
                resident: "ada".into(),
                sender: "@mayor:town.test".into()
            }
        );
        assert!(serde_json::from_str::<Envelope>(r#"{"v":1,"request":"format_disk"}"#).is_err());
        // Every answer must survive the round trip, a turn's events inside too.
        let said = [
            Said::Turn(crate::turn::TurnEvent::Text { text: "hi".into() }),
            Said::Stopped { turns: 1 },
            Said::Error {
                message: "x".into(),
            },
        ];
        for s in said {
            let back: Said = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
            assert_eq!(back, s);
        }
    }
}
