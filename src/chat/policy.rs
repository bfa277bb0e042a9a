//! What an incoming message means for a resident: ignore it, or one typed command.
//! Chat text reaches privileged code only through `Command`.

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
    /// The sender is another resident of the town.
    pub from_resident: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Turn(String),
    Help,
    Status,
    Cost,
    Session,
    Stop,
    New,
    Log(usize),
    /// Say what ending the round would lose, and wait for `!reset yes`.
    Reset,
    ResetYes,
    /// The resident's branches on the town remote.
    Branches,
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
            && let Some(rest) = rest.strip_prefix(':').or_else(|| rest.strip_prefix(',')) {
                return Some(rest.trim_start());
            }
    }
    None
}

fn command(text: &str) -> Command {
    let t = text.trim();
    let mut words = t.split_whitespace();
    match words.next() {
        Some("!help") => Command::Help,
        Some("!status") => Command::Status,
        Some("!cost") => Command::Cost,
        Some("!session") => Command::Session,
        Some("!stop") => Command::Stop,
        Some("!new") => Command::New,
        Some("!reset") if words.next() == Some("yes") => Command::ResetYes,
        Some("!reset") => Command::Reset,
        Some("!branches") => Command::Branches,
        Some("!log") => Command::Log(words.next().and_then(|n| n.parse().ok()).unwrap_or(20).clamp(1, 200)),
        _ => Command::Turn(t.to_string()),
    }
}

pub fn decide(m: &Incoming) -> Decision {
    if m.sender == m.me || m.is_notice || m.is_edit {
        return Decision::Pass;
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
            return Decision::Refused(format!("{} is a resident that {}'s allow does not name", m.sender, m.name));
        }
        return Decision::Act(Command::Turn(text.trim().to_string()));
    }
    if !m.allowed {
        return Decision::Refused(format!("{} is not allowed to command {}", m.sender, m.name));
    }
    match command(text) {
        Command::Turn(t) if t.is_empty() => Decision::Pass,
        c @ (Command::Reset | Command::ResetYes) if !m.is_mayor => Decision::MayorsOnly(c),
        c => Decision::Act(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<'a>(sender: &'a str, body: &'a str, direct: bool) -> Incoming<'a> {
        Incoming {
            sender,
            me: "@ada:town.test",
            name: "ada",
            body,
            is_notice: false,
            is_edit: false,
            direct,
            mentioned: false,
            allowed: sender == "@mayor:town.test",
            is_mayor: sender == "@mayor:town.test",
            from_resident: sender == "@vox:town.test",
        }
    }

    #[test]
    fn in_a_dm_every_message_is_for_the_resident() {
        assert_eq!(decide(&msg("@mayor:town.test", "fix the build", true)), Decision::Act(Command::Turn("fix the build".into())));
        assert_eq!(decide(&msg("@mayor:town.test", "!stop", true)), Decision::Act(Command::Stop));
        assert_eq!(decide(&msg("@mayor:town.test", "!log 5", true)), Decision::Act(Command::Log(5)));
        assert_eq!(decide(&msg("@mayor:town.test", "!branches", true)), Decision::Act(Command::Branches));
    }

    #[test]
    fn in_a_shared_room_only_when_addressed() {
        assert_eq!(decide(&msg("@mayor:town.test", "vox: summarise this", false)), Decision::Pass);
        assert_eq!(decide(&msg("@mayor:town.test", "ada: run the tests", false)), Decision::Act(Command::Turn("run the tests".into())));
        assert_eq!(decide(&msg("@mayor:town.test", "@ada:town.test, hi", false)), Decision::Act(Command::Turn("hi".into())));
        let mut m = msg("@mayor:town.test", "what do you think?", false);
        m.mentioned = true;
        assert_eq!(decide(&m), Decision::Act(Command::Turn("what do you think?".into())));
    }

    #[test]
    fn strangers_never_start_turns_and_own_messages_notices_edits_pass() {
        assert!(matches!(decide(&msg("@eve:town.test", "rm -rf /", true)), Decision::Refused(_)));
        // A display name that looks like the mayor's changes nothing: identity is the user ID.
        assert!(matches!(decide(&msg("@mayor2:town.test", "hi", true)), Decision::Refused(_)));
        assert_eq!(decide(&msg("@ada:town.test", "hi", true)), Decision::Pass);
        let mut n = msg("@mayor:town.test", "hi", true);
        n.is_notice = true;
        assert_eq!(decide(&n), Decision::Pass);
        n.is_notice = false;
        n.is_edit = true;
        assert_eq!(decide(&n), Decision::Pass);
    }

    #[test]
    fn residents_talk_to_each_other_only_by_addressing_and_when_allowed() {
        let mut m = msg("@vox:town.test", "ada: can you check?", false);
        assert!(matches!(decide(&m), Decision::Refused(_)), "vox is not in ada's allow");
        m.allowed = true;
        assert_eq!(decide(&m), Decision::Act(Command::Turn("can you check?".into())));
        let mut dm = msg("@vox:town.test", "I think so", true);
        dm.allowed = true;
        assert_eq!(decide(&dm), Decision::Pass);
        // A resident's "!reset" is a prompt at most, never a command.
        let mut r = msg("@vox:town.test", "ada: !reset", false);
        r.allowed = true;
        assert_eq!(decide(&r), Decision::Act(Command::Turn("!reset".into())));
    }

    #[test]
    fn reset_is_for_mayors() {
        let mut m = msg("@friend:town.test", "!reset", true);
        m.allowed = true;
        assert_eq!(decide(&m), Decision::MayorsOnly(Command::Reset));
        let yes = Incoming { body: "!reset yes", ..m.clone() };
        assert_eq!(decide(&yes), Decision::MayorsOnly(Command::ResetYes));
        let mayor = msg("@mayor:town.test", "!reset yes", true);
        assert_eq!(decide(&mayor), Decision::Act(Command::ResetYes));
    }
}
