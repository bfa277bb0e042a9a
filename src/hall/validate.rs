//! What the root daemon re-checks in every request from the chat process, against the
//! town it holds (never against anything the chat says about the town).

use super::{Ask, Reply};
use crate::config::{Resident, Town};
use townhall_wire::hall::ModeChange;

/// Matrix caps an event at 64 KiB, so no real message is longer.
pub const MAX_PROMPT: usize = 64 * 1024;
const MAX_ID: usize = 255;
const MAX_TEXT: usize = 2048;
const MAX_CONVERSATION: usize = 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(why.into()))
}

/// An identifier: `sigil` first, printable, no spaces, bounded.
fn id(what: &str, s: &str, sigil: char) -> Result<(), Refusal> {
    if !s.starts_with(sigil)
        || s.len() > MAX_ID
        || s.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return refuse(format!(
            "{what} {s:.80?} is not a Matrix identifier starting with {sigil:?}"
        ));
    }
    Ok(())
}

fn text(what: &str, s: &str, max: usize) -> Result<(), Refusal> {
    if s.len() > max {
        return refuse(format!(
            "{what} is {} bytes, over the {max} allowed",
            s.len()
        ));
    }
    if s.contains('\0') {
        return refuse(format!("{what} contains a NUL byte"));
    }
    Ok(())
}

fn resident<'t>(town: &'t Town, name: &str) -> Result<&'t Resident, Refusal> {
    town.resident(name)
        .ok_or_else(|| Refusal(format!("no resident named {name:.40?}")))
}

/// A human the resident takes commands from: a mayor, or a user its `allow` names that is
/// not itself a resident (residents may only ask for turns, in their own conversation).
fn commander(town: &Town, r: &crate::config::Resident, sender: &str) -> Result<(), Refusal> {
    id("sender", sender, '@')?;
    let is_resident = town.residents.iter().any(|x| x.matrix.user == sender);
    if town.matrix.mayors.iter().any(|m| m == sender)
        || (r.matrix.allow.iter().any(|a| a == sender) && !is_resident)
    {
        return Ok(());
    }
    refuse(format!("{sender} may not command {}", r.name))
}

/// One of `r`'s approvers (`approve_by`, else the mayors); never a resident.
fn approver(town: &Town, r: &crate::config::Resident, by: &str) -> Result<(), Refusal> {
    id("by", by, '@')?;
    let is_resident = town.residents.iter().any(|x| x.matrix.user == by);
    if !is_resident && town.approvers(r).iter().any(|a| a == by) {
        return Ok(());
    }
    refuse(format!("{by} does not approve {}'s tool calls", r.name))
}

fn mayor(town: &Town, by: &str, what: &str) -> Result<(), Refusal> {
    id("by", by, '@')?;
    if !town.matrix.mayors.iter().any(|m| m == by) {
        return refuse(format!("{by} is not a mayor: only a mayor may {what}"));
    }
    Ok(())
}

/// A device as `!devices` names it: looked up among present devices only, never opened.
fn device(d: &str) -> Result<(), Refusal> {
    if d.is_empty() || d.len() > MAX_ID || d.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return refuse(format!("{d:.80?} is not a device name such as ttyUSB0"));
    }
    Ok(())
}

fn reply(r: &Reply) -> Result<(), Refusal> {
    id("room", &r.room, '!')?;
    id("event", &r.event, '$')?;
    r.thread.as_deref().map_or(Ok(()), |t| id("thread", t, '$'))
}

/// A request that passed every check, with the resident it names resolved in the town the
/// daemon holds: dispatch looks nothing up again.
#[derive(Debug)]
pub struct Checked<'t> {
    pub ask: Ask,
    pub resident: Option<&'t Resident>,
}

/// Check `ask` against the town; the checked request, or why it is refused.
pub fn validate(town: &Town, ask: Ask) -> Result<Checked<'_>, Refusal> {
    check(town, &ask)?;
    let resident = match named(&ask) {
        Some(name) => Some(resident(town, name)?),
        None => None,
    };
    Ok(Checked { ask, resident })
}

/// The resident a request names, if any.
fn named(ask: &Ask) -> Option<&str> {
    match ask {
        Ask::Turn { resident, .. }
        | Ask::Stop { resident, .. }
        | Ask::Resume { resident, .. }
        | Ask::Forget { resident, .. }
        | Ask::Status { resident }
        | Ask::Cost { resident, .. }
        | Ask::Session { resident, .. }
        | Ask::Log { resident }
        | Ask::Branches { resident }
        | Ask::Network { resident, .. }
        | Ask::Answer { resident, .. }
        | Ask::Lease { resident, .. }
        | Ask::File { resident, .. }
        | Ask::Health { resident, .. }
        | Ask::Audit { resident, .. } => Some(resident),
        Ask::ResetReport { resident, .. } | Ask::Reset { resident, .. } => resident.as_deref(),
        Ask::Checkpoint { resident, .. }
        | Ask::Checkpoints { resident }
        | Ask::Rollback { resident, .. }
        | Ask::Every { resident, .. }
        | Ask::Schedules { resident }
        | Ask::Unschedule { resident, .. }
        | Ask::Decide { resident, .. }
        | Ask::Approvals { resident, .. }
        | Ask::History { resident, .. }
        | Ask::Mode { resident, .. }
        | Ask::Usage { resident, .. } => Some(resident),
        Ask::Subscribe
        | Ask::Devices
        | Ask::Release { .. }
        | Ask::Tail { .. }
        | Ask::Untail { .. }
        | Ask::Delivered { .. }
        | Ask::FileSent { .. } => None,
    }
}

fn check(town: &Town, ask: &Ask) -> Result<(), Refusal> {
    match ask {
        Ask::Subscribe => Ok(()),
        Ask::Turn {
            resident: name,
            sender,
            conversation,
            prompt,
            reply: to,
        } => {
            let r = resident(town, name)?;
            reply(to)?;
            text("the prompt", prompt, MAX_PROMPT)?;
            if prompt.trim().is_empty() {
                return refuse("the prompt is empty");
            }
            text("the conversation", conversation, MAX_CONVERSATION)?;
            if !conversation.starts_with(&to.room) || conversation.chars().any(char::is_control) {
                return refuse(format!(
                    "conversation {conversation:.80?} does not belong to room {}",
                    to.room
                ));
            }
            let from_resident = town.residents.iter().any(|x| x.matrix.user == *sender);
            if from_resident {
                // Allowed only when named in `allow`, and never in a human's conversation.
                id("sender", sender, '@')?;
                if !r.matrix.allow.iter().any(|a| a == sender) {
                    return refuse(format!(
                        "{sender} is a resident that {}'s allow does not name",
                        r.name
                    ));
                }
                if !conversation.ends_with(&format!("/from:{sender}")) {
                    return refuse(format!(
                        "a turn asked by resident {sender} must run in its own conversation"
                    ));
                }
                return Ok(());
            }
            commander(town, r, sender)
        }
        Ask::Stop {
            resident: name,
            sender,
        }
        | Ask::Resume {
            resident: name,
            sender,
        }
        | Ask::Network {
            resident: name,
            sender,
        } => commander(town, resident(town, name)?, sender),
        Ask::Forget {
            resident: name,
            sender,
            conversation,
        } => {
            text("the conversation", conversation, MAX_CONVERSATION)?;
            commander(town, resident(town, name)?, sender)
        }
        Ask::Status { resident: name }
        | Ask::Log { resident: name }
        | Ask::Checkpoints { resident: name }
        | Ask::Branches { resident: name } => resident(town, name).map(|_| ()),
        Ask::Checkpoint {
            resident: name,
            by,
            label,
        } => {
            text("the label", label, 80 * 4)?;
            resident(town, name)?;
            mayor(town, by, "take a checkpoint")
        }
        Ask::Rollback {
            resident: name, by, ..
        } => {
            resident(town, name)?;
            mayor(town, by, "roll a home back")
        }
        Ask::Every {
            resident: name,
            by,
            on,
            prompt,
            room,
        } => {
            resident(town, name)?;
            id("room", room, '!')?;
            crate::config::schedule::spec(on).or_else(refuse)?;
            crate::config::schedule::prompt(prompt).or_else(refuse)?;
            mayor(town, by, "make a schedule")
        }
        Ask::Schedules { resident: name } => resident(town, name).map(|_| ()),
        Ask::Unschedule {
            resident: name, by, ..
        } => {
            resident(town, name)?;
            mayor(town, by, "remove a schedule")
        }
        Ask::Cost {
            resident: name,
            conversation,
        }
        | Ask::Session {
            resident: name,
            conversation,
        } => {
            text("the conversation", conversation, MAX_CONVERSATION)?;
            resident(town, name).map(|_| ())
        }
        Ask::Reset { by, resident: who } | Ask::ResetReport { by, resident: who } => {
            if let Some(name) = who {
                resident(town, name)?;
            }
            mayor(town, by, "end the round")
        }
        Ask::Devices => Ok(()),
        Ask::Decide {
            resident: name,
            by,
            allow,
            round,
            ..
        } => {
            if *round && !*allow {
                return refuse("a decision for the round is a yes");
            }
            approver(town, resident(town, name)?, by)
        }
        Ask::Mode {
            resident: name,
            by,
            conversation,
            change,
        } => {
            text("the conversation", conversation, MAX_CONVERSATION)?;
            if let ModeChange::Model(Some(w)) | ModeChange::Effort(Some(w)) = change {
                text("the mode", w, 100)?;
            }
            commander(town, resident(town, name)?, by)
        }
        Ask::Usage {
            resident: name,
            by,
            days,
        } => {
            let most = townhall_wire::hall::MAX_USAGE_DAYS;
            if !(1..=most).contains(days) {
                return refuse(format!("`!usage` charts 1 to {most} days, not {days}"));
            }
            commander(town, resident(town, name)?, by)
        }
        Ask::History {
            resident: name,
            by,
            n,
        } => {
            resident(town, name)?;
            if !(1..=townhall_wire::hall::MAX_HISTORY).contains(n) {
                return refuse(format!(
                    "`!audit` shows 1 to {} entries, not {n}",
                    townhall_wire::hall::MAX_HISTORY
                ));
            }
            mayor(town, by, "read the audit log")
        }
        // Its approvers and anyone it takes commands from read them; approvers take them back.
        Ask::Approvals {
            resident: name,
            by,
            clear,
        } => {
            let r = resident(town, name)?;
            match clear {
                true => approver(town, r, by),
                false => commander(town, r, by).or_else(|_| approver(town, r, by)),
            }
        }
        // A resident's question is answered by a human it takes commands from.
        Ask::Answer {
            resident: name,
            by,
            answer,
            ..
        } => {
            text("the answer", answer, crate::tools::MAX_CALL)?;
            commander(town, resident(town, name)?, by)
        }
        Ask::Lease {
            by,
            device: d,
            resident: name,
            secs,
        } => {
            resident(town, name)?;
            device(d)?;
            let range =
                crate::hall::SHORTEST_LEASE.as_secs()..=crate::hall::LONGEST_LEASE.as_secs();
            if !range.contains(secs) {
                return refuse(format!(
                    "a lease lasts from 1 minute to 30 days, not {secs} s"
                ));
            }
            mayor(town, by, "lease a device")
        }
        Ask::Release { by, device: d } | Ask::Untail { by, device: d } => {
            device(d)?;
            mayor(town, by, "release or untail a device")
        }
        Ask::Tail {
            by,
            device: d,
            baud,
        } => {
            device(d)?;
            if let Some(b) = baud
                && !crate::config::serial::is_rate(*b)
            {
                return refuse(format!(
                    "{b} is not a baud rate townhall sets; use {}",
                    crate::config::serial::RATES
                ));
            }
            mayor(town, by, "tail a serial console")
        }
        Ask::File {
            resident: name,
            sender,
            conversation,
            name: file,
            mimetype,
            spool,
        } => {
            text("the conversation", conversation, MAX_CONVERSATION)?;
            for (what, s) in [
                ("the file name", file),
                ("the type", mimetype),
                ("the spool path", spool),
            ] {
                text(what, s, MAX_ID)?;
            }
            let r = resident(town, name)?;
            if town.residents.iter().any(|x| x.matrix.user == *sender) {
                return refuse(format!(
                    "{sender} is a resident: residents do not send each other files"
                ));
            }
            commander(town, r, sender)
        }
        Ask::Delivered { .. } => Ok(()),
        Ask::FileSent { error, .. } => match error {
            Some(e) => text("the upload's error", e, MAX_PROMPT),
            None => Ok(()),
        },
        Ask::Health {
            resident: name,
            health,
        } => {
            resident(town, name)?;
            text("the health", health, MAX_TEXT)
        }
        Ask::Audit {
            resident: name,
            from,
            room,
            why,
            ..
        } => {
            resident(town, name)?;
            for (what, s) in [("from", from), ("room", room), ("why", why)] {
                text(what, s, MAX_TEXT)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
