//! Every request, answer, notice and turn event the hall has, counted by an exhaustive match
//! so that the examples must show each one.

use crate::hall::*;

/// Each enum's variants, by an exhaustive match: a new variant does not compile until it
/// has an index here, and the examples must then show it.
pub(super) fn ask_index(a: &Ask) -> usize {
    match a {
        Ask::Subscribe => 0,
        Ask::Turn { .. } => 1,
        Ask::Stop { .. } => 2,
        Ask::Forget { .. } => 3,
        Ask::Status { .. } => 4,
        Ask::Cost { .. } => 5,
        Ask::Session { .. } => 6,
        Ask::Log { .. } => 7,
        Ask::Branches { .. } => 8,
        Ask::ResetReport { .. } => 9,
        Ask::Reset { .. } => 10,
        Ask::Decide { .. } => 11,
        Ask::Devices => 12,
        Ask::Lease { .. } => 13,
        Ask::Release { .. } => 14,
        Ask::Tail { .. } => 15,
        Ask::Untail { .. } => 16,
        Ask::File { .. } => 17,
        Ask::Delivered { .. } => 18,
        Ask::Health { .. } => 19,
        Ask::Audit { .. } => 20,
        Ask::Network { .. } => 21,
        Ask::Answer { .. } => 22,
        Ask::FileSent { .. } => 23,
        Ask::Checkpoint { .. } => 24,
        Ask::Checkpoints { .. } => 25,
        Ask::Rollback { .. } => 26,
        Ask::Every { .. } => 27,
        Ask::Schedules { .. } => 28,
        Ask::Unschedule { .. } => 29,
        Ask::Resume { .. } => 30,
        Ask::Approvals { .. } => 31,
        Ask::History { .. } => 32,
        Ask::Mode { .. } => 33,
        Ask::Usage { .. } => 34,
    }
}
pub(super) const ASKS: usize = 35;

pub(super) fn said_index(s: &Said) -> usize {
    match s {
        Said::Welcome { .. } => 0,
        Said::Notice { .. } => 1,
        Said::Deliver(_) => 2,
        Said::Reloaded => 3,
        Said::Turn(_) => 4,
        Said::Accepted => 5,
        Said::Gathered { .. } => 6,
        Said::Joined { .. } => 7,
        Said::TurnDone { .. } => 8,
        Said::Stopped { .. } => 9,
        Said::Status(_) => 10,
        Said::Cost(_) => 11,
        Said::Session { .. } => 12,
        Said::LastTurn { .. } => 13,
        Said::Branches { .. } => 14,
        Said::Losses { .. } => 15,
        Said::Filed { .. } => 16,
        Said::ResetDone(_) => 17,
        Said::Devices { .. } => 18,
        Said::Leased(_) => 19,
        Said::Released { .. } => 20,
        Said::Tailing { .. } => 21,
        Said::Serial { .. } => 22,
        Said::TailEnded { .. } => 23,
        Said::Approval { .. } => 24,
        Said::ApprovalEnded { .. } => 25,
        Said::Done => 26,
        Said::Error { .. } => 27,
        Said::Network { .. } => 28,
        Said::Question { .. } => 29,
        Said::QuestionEnded { .. } => 30,
        Said::Told { .. } => 31,
        Said::SendFile { .. } => 32,
        Said::Checkpoints { .. } => 33,
        Said::Schedules { .. } => 34,
        Said::Approvals { .. } => 35,
        Said::History { .. } => 36,
        Said::Mode { .. } => 37,
        Said::Activity { .. } => 38,
        Said::Usage { .. } => 39,
    }
}
pub(super) const SAIDS: usize = 40;

pub(super) fn notice_index(n: &Notice) -> usize {
    match n {
        Notice::DeviceGranted { .. } => 0,
        Notice::DeviceGone { .. } => 1,
        Notice::DeviceRevoked { .. } => 2,
        Notice::Pushed { .. } => 3,
        Notice::RoundBegan { .. } => 4,
        Notice::RoundLost { .. } => 5,
        Notice::BudgetSpent { .. } => 6,
        Notice::Dropped { .. } => 7,
        Notice::ScheduleSkipped { .. } => 8,
        Notice::EventsStopped { .. } => 9,
        Notice::Parked { .. } => 10,
    }
}
pub(super) const NOTICES: usize = 11;

pub(super) fn event_index(e: &TurnEvent) -> usize {
    match e {
        TurnEvent::Text { .. } => 0,
        TurnEvent::Tool { .. } => 1,
        TurnEvent::Final { .. } => 2,
        TurnEvent::Session { .. } => 3,
        TurnEvent::Usage { .. } => 4,
        TurnEvent::Error { .. } => 5,
        TurnEvent::Notice { .. } => 6,
        TurnEvent::Queued { .. } => 7,
    }
}
pub(super) const EVENTS: usize = 8;
pub(super) fn covers(indices: impl Iterator<Item = usize>, all: usize, what: &str) {
    let mut seen = vec![false; all];
    indices.for_each(|i| seen[i] = true);
    let missing: Vec<usize> = (0..all).filter(|i| !seen[*i]).collect();
    assert!(
        missing.is_empty(),
        "golden/examples.rs shows no example of {what} {missing:?}"
    );
}
