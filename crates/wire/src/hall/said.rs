//! What the daemon says back, and what it says unasked (notices, kept answers).

use serde::{Deserialize, Serialize};

use super::Reply;
use super::devices::{DeviceStatus, Lease};
use super::network::NetworkReport;
use super::reports::{
    CheckpointInfo, CostReport, LossReport, RepoBranches, ResetSummary, ResidentReport, Worktree,
};
use super::turn::{Outcome, Outgoing, TurnEvent};

/// An answer kept until the chat says it reached the room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: u64,
    pub resident: String,
    pub reply: Reply,
    pub text: String,
    pub errors: Vec<String>,
    /// None when the turn could not run at all (why in `errors`).
    pub outcome: Option<Outcome>,
    /// The events of every message the turn answered, in order: the chat shows the answer
    /// in its place among the conversation's others.
    #[serde(default)]
    pub answers: Vec<String>,
    /// What started the turn when no message did (a schedule): said above the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub came: Option<Came>,
}

/// One day's spending, as `!usage` and `townhall usage` chart it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageDay {
    /// YYYY-MM-DD (UTC).
    pub date: String,
    pub turns: u64,
    pub tokens: u64,
    pub usd: f64,
}

/// A rule allowed for the rest of a round (🔁), as `!approvals` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundRule {
    pub rule: String,
    pub by: String,
}

/// One schedule, as `!schedules` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    /// `N` for one made in chat (`!unschedule N`), else the declared one's id.
    pub id: String,
    pub on: String,
    pub prompt: String,
    pub room: String,
    /// When it next comes due, as systemd says it; None when it never will.
    pub next: Option<String>,
    /// Where it is declared (`residents/ada.toml:30`), None for one made in chat.
    pub declared: Option<String>,
    /// The mayor who made it in chat.
    pub by: Option<String>,
}

/// What starts a turn by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "came", rename_all = "snake_case")]
pub enum Came {
    /// The resident's schedule `id`, due at `on`.
    Schedule { id: String, on: String },
    /// Something happened in the town that its `[[on]]` waits for: `what`, in words.
    Event { what: String },
    /// The conversation waited for its provider's usage limit to reset.
    Resumed,
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
    /// The gate refused a model call: the round's budget is spent (once per round).
    BudgetSpent {
        spent: String,
        budget: String,
    },
    /// A turn hit the provider's usage limit (`said`): its conversation waits until `at`
    /// (`in_secs` from now), then runs again by itself; said in `room`.
    Parked {
        room: String,
        said: String,
        at: String,
        in_secs: u64,
    },
    /// An `[[on]]` turn was not started: `hops` turns in a row in `room` started by
    /// residents' doings with no mayor speaking there (the hop limit).
    EventsStopped {
        room: String,
        hops: u32,
    },
    /// Schedule `id` came due while its conversation's turn still ran: skipped, said in
    /// the schedule's `room`.
    ScheduleSkipped {
        id: String,
        on: String,
        room: String,
    },
    /// The kernel dropped what the resident sent around the gate (at most once a minute):
    /// the first packet since the last notice, and how many more came with it.
    Dropped {
        to: String,
        more: u64,
        /// The resident's turn running when it was sent, if one was.
        turn: Option<String>,
    },
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
    Turn(TurnEvent),
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
        outcome: Option<Outcome>,
        error: Option<String>,
    },
    Stopped {
        turns: u32,
    },
    /// A resident's schedules, declared and made in chat.
    Schedules {
        schedules: Vec<ScheduleInfo>,
    },
    Status(ResidentReport),
    Cost(CostReport),
    Session {
        id: Option<String>,
    },
    LastTurn {
        outcome: Option<Outcome>,
    },
    /// The resident's branches on the town remote, and its conversations' worktrees.
    Branches {
        repos: Vec<RepoBranches>,
        #[serde(default)]
        worktrees: Vec<Worktree>,
    },
    Network {
        residents: Vec<NetworkReport>,
    },
    Losses {
        residents: Vec<LossReport>,
    },
    /// Where a sent file was saved.
    Filed {
        path: String,
    },
    ResetDone(ResetSummary),
    /// A resident's checkpoints, oldest first (after `Checkpoint`, the new one is last).
    Checkpoints {
        checkpoints: Vec<CheckpointInfo>,
    },
    Devices {
        devices: Vec<DeviceStatus>,
    },
    Leased(Lease),
    Released {
        leases: Vec<Lease>,
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
    /// A tool call waits for an approver: ask in `room` (and `thread`), mentioning
    /// `approvers`, for `wait_secs`. `round`: a 🔁 may allow `rule` for the round.
    Approval {
        id: u64,
        resident: String,
        room: String,
        thread: Option<String>,
        tool: String,
        subject: String,
        rule: String,
        wait_secs: u64,
        approvers: Vec<String>,
        round: bool,
    },
    /// What `resident` is doing now, for its bot's presence (sent when it changes).
    Activity {
        resident: String,
        activity: super::Activity,
    },
    /// A conversation's mode now, and the models its resident may run.
    Mode {
        mode: super::Mode,
        kind: String,
        models: Vec<String>,
    },
    /// A resident's spending per day, oldest first, every day of the span (`!usage`).
    Usage {
        days: Vec<UsageDay>,
    },
    /// A resident's audit entries, oldest first, one line each (`TIME  what`).
    History {
        lines: Vec<String>,
    },
    /// The rules a resident's approvers allowed for the rest of its round.
    Approvals {
        rules: Vec<RoundRule>,
    },
    /// How approval `id` ended (a mayor's decision, or the timeout's no).
    ApprovalEnded {
        id: u64,
        resident: String,
        allow: bool,
        reason: String,
    },
    /// A resident's agent asks the mayors (the town's `ask_mayor` tool): in `room` (and
    /// `thread`), mentioning `mention`, with `choices` to react with; for `wait_secs`.
    Question {
        id: u64,
        resident: String,
        room: String,
        thread: Option<String>,
        question: String,
        choices: Vec<String>,
        mention: Vec<String>,
        wait_secs: u64,
    },
    /// How question `id` ended: `answer` by `by`, or none in time.
    QuestionEnded {
        id: u64,
        resident: String,
        answer: Option<String>,
        by: Option<String>,
    },
    /// A resident's agent sends a file mid-turn (the `send_file` tool): upload root's copy
    /// `file` into the room, then say how it went (Ask::FileSent).
    SendFile {
        id: u64,
        resident: String,
        room: String,
        thread: Option<String>,
        file: Outgoing,
    },
    /// A resident's agent tells the room something mid-turn (the `tell_mayor` tool).
    Told {
        resident: String,
        room: String,
        thread: Option<String>,
        text: String,
    },
    Done,
    Error {
        message: String,
    },
}

impl Said {
    /// The resident whose rooms a message unasked goes to (notices, answers kept for the
    /// chat, questions to the mayors, what an agent tells): both ends queue and route by it.
    pub fn resident(&self) -> Option<&str> {
        match self {
            Said::Notice { resident, .. }
            | Said::Approval { resident, .. }
            | Said::ApprovalEnded { resident, .. }
            | Said::Question { resident, .. }
            | Said::QuestionEnded { resident, .. }
            | Said::Told { resident, .. }
            | Said::Activity { resident, .. }
            | Said::SendFile { resident, .. } => Some(resident),
            Said::Deliver(d) => Some(&d.resident),
            _ => None,
        }
    }
}

/// A request the line plumbing refuses (too long, too slow) is answered as an error.
impl crate::lines::Answer for Said {
    fn refusal(message: String) -> Self {
        Said::Error { message }
    }
}
