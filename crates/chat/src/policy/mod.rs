//! What an incoming message means for a resident: ignore it, or one typed command.
//! Chat text reaches privileged code only through `Command`.

mod command;
#[cfg(test)]
mod tests;

use command::command;
pub use command::{Command, DeviceCommand};

/// Everything the decision needs, already extracted from the event.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    pub sender: &'a str,
    /// This resident's Matrix ID and Unix name.
    pub me: &'a str,
    pub name: &'a str,
    pub body: &'a str,
    pub is_notice: bool,
    pub is_edit: bool,
    /// A room with only the sender and this resident.
    pub direct: bool,
    /// `m.mentions` names this resident.
    pub mentioned: bool,
    /// A mayor, or a user this resident's config allows.
    pub allowed: bool,
    pub is_mayor: bool,
    /// One of this resident's approvers (`approve_by`, else the mayors).
    pub approver: bool,
    /// The sender is another resident of the town.
    pub from_resident: bool,
    /// It carries a file (`body` is its caption).
    pub file: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not for this resident, or not a message to act on (own, notice, edit).
    Pass,
    /// Someone not allowed: never a turn; audited.
    Refused(String),
    /// Allowed, but the command is the mayors' only.
    MayorsOnly(Command),
    Act(Command),
}

/// Strip "name:" / "name," / "@name:server" addressing at the start; None when the message
/// does not address this resident.
fn addressed<'b>(body: &'b str, name: &str, me: &str) -> Option<&'b str> {
    let t = body.trim_start();
    for prefix in [me, name] {
        if let Some(rest) = t.strip_prefix(prefix)
            && let Some(rest) = rest.strip_prefix(':').or_else(|| rest.strip_prefix(','))
        {
            return Some(rest.trim_start());
        }
    }
    None
}

pub fn decide(m: &Incoming) -> Decision {
    if m.sender == m.me || m.is_notice || m.is_edit {
        return Decision::Pass;
    }
    if m.file {
        return file(m);
    }
    let text = match (addressed(m.body, m.name, m.me), m.direct, m.mentioned) {
        (Some(rest), _, _) => rest,
        (None, true, _) | (None, _, true) => m.body,
        (None, false, false) => return Decision::Pass,
    };
    // Another resident speaks to us only by addressing us, never by sharing a DM, and only
    // when our `allow` names it: a compromised resident must not drive every other one.
    if m.from_resident {
        if addressed(m.body, m.name, m.me).is_none() && !m.mentioned {
            return Decision::Pass;
        }
        if !m.allowed {
            return Decision::Refused(format!(
                "{} is a resident that {}'s allow does not name",
                m.sender, m.name
            ));
        }
        return Decision::Act(Command::Turn(text.trim().to_string()));
    }
    let command = command(text);
    // An approver who may not command still reads and takes back what it allowed.
    let approver_asks = m.approver && matches!(command, Command::Approvals { .. });
    if !(m.allowed || approver_asks) {
        return Decision::Refused(format!("{} is not allowed to command {}", m.sender, m.name));
    }
    match command {
        Command::Turn(t) if t.is_empty() => Decision::Pass,
        c @ (Command::Reset { .. }
        | Command::ResetYes
        | Command::Checkpoint(_)
        | Command::Rollback(_)
        | Command::RollbackYes
        | Command::Every { .. }
        | Command::Unschedule(_)
        | Command::Audit(_))
            if !m.is_mayor =>
        {
            Decision::MayorsOnly(c)
        }
        Command::Device(d) if d != DeviceCommand::List && !m.is_mayor => {
            Decision::MayorsOnly(Command::Device(d))
        }
        c => Decision::Act(c),
    }
}

/// A file is for the resident in a DM, or when its caption addresses or mentions it; only
/// humans allowed to command it send it files.
fn file(m: &Incoming) -> Decision {
    let addressed = addressed(m.body, m.name, m.me);
    if m.from_resident || !(m.direct || m.mentioned || addressed.is_some()) {
        return Decision::Pass;
    }
    if !m.allowed {
        return Decision::Refused(format!(
            "{} is not allowed to send {} files",
            m.sender, m.name
        ));
    }
    let caption = addressed.unwrap_or(m.body).trim();
    Decision::Act(Command::File {
        caption: (!caption.is_empty()).then(|| caption.to_string()),
    })
}
