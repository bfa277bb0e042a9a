//! Root's own types as the hall carries them. The hall has its own copies so that root's
//! internals can change without changing the wire; each conversion is total.

use super as hall;
use crate::{files, grant, round, turn};

impl From<turn::TurnEvent> for hall::TurnEvent {
    fn from(e: turn::TurnEvent) -> Self {
        use turn::TurnEvent as T;
        match e {
            T::Text { text } => Self::Text { text },
            T::Tool { summary } => Self::Tool { summary },
            T::Final { text } => Self::Final { text },
            T::Session { id } => Self::Session { id },
            T::Usage {
                input_tokens,
                output_tokens,
                cost_usd,
            } => Self::Usage {
                input_tokens,
                output_tokens,
                cost_usd,
            },
            T::Error { message } => Self::Error { message },
            T::Notice { text } => Self::Notice { text },
            T::Queued { ahead } => Self::Queued { ahead },
        }
    }
}

impl From<turn::Spent> for hall::Spent {
    fn from(s: turn::Spent) -> Self {
        Self {
            turns: s.turns,
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cost_usd: s.cost_usd,
        }
    }
}

impl From<files::Outgoing> for hall::Outgoing {
    fn from(f: files::Outgoing) -> Self {
        Self {
            name: f.name,
            mimetype: f.mimetype,
            bytes: f.bytes,
            path: f.path,
        }
    }
}

impl From<turn::Outcome> for hall::Outcome {
    fn from(o: turn::Outcome) -> Self {
        Self {
            result: o.result,
            status: o.status,
            stopped: o.stopped,
            timed_out: o.timed_out,
            stderr_tail: o.stderr_tail,
            duration_ms: o.duration_ms,
            spent: o.spent.map(Into::into),
            conversation_spent: o.conversation_spent.map(Into::into),
            session: o.session,
            files: o.files.into_iter().map(Into::into).collect(),
            files_left: o.files_left,
            tools: o.tools,
            branch: o.branch,
        }
    }
}

impl From<turn::RunningTurn> for hall::RunningTurn {
    fn from(t: turn::RunningTurn) -> Self {
        Self {
            resident: t.resident,
            conversation: t.conversation,
            unit: t.unit,
            running_secs: t.running_secs,
        }
    }
}

fn permission(p: crate::config::Permission) -> hall::Permission {
    match p {
        crate::config::Permission::R => hall::Permission::R,
        crate::config::Permission::Rw => hall::Permission::Rw,
    }
}

impl From<grant::Held> for hall::Held {
    fn from(h: grant::Held) -> Self {
        Self {
            resident: h.resident,
            perm: permission(h.perm),
            since: h.since,
            until: h.until,
        }
    }
}

impl From<grant::DeviceStatus> for hall::DeviceStatus {
    fn from(d: grant::DeviceStatus) -> Self {
        Self {
            devnode: d.devnode,
            subsystem: d.subsystem,
            sysname: d.sysname,
            holders: d.holders.into_iter().map(Into::into).collect(),
            refused: d.refused,
            baud: d.baud,
        }
    }
}

impl From<grant::Lease> for hall::Lease {
    fn from(l: grant::Lease) -> Self {
        Self {
            devnode: l.devnode,
            resident: l.resident,
            by: l.by,
            since: l.since,
            until: l.until,
        }
    }
}

/// What a reset would lose, worded once by root for chat and terminal alike.
impl From<&round::Losses> for hall::LossReport {
    fn from(l: &round::Losses) -> Self {
        Self {
            resident: l.resident.clone(),
            lines: l.lines(),
        }
    }
}

/// Converts a list of root's values into the hall's.
pub fn all<T, U: From<T>>(items: Vec<T>) -> Vec<U> {
    items.into_iter().map(U::from).collect()
}

/// The hall's answer for a request the daemon declined: its words, for the room.
pub fn refused(why: impl std::fmt::Display) -> hall::Said {
    hall::Said::Error {
        message: why.to_string(),
    }
}
