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
    /// It carries a file (`body` is its caption).
    pub file: bool,
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
    Device(DeviceCommand),
    /// Save the message's file to the inbox; a caption is then a turn's prompt.
    File {
        caption: Option<String>,
    },
    /// A command written wrongly: how to write it.
    Usage(String),
}

impl Command {
    /// What a mayors-only command does, for the refusal.
    pub fn mayors_only(&self) -> &'static str {
        match self {
            Command::Device(DeviceCommand::Tail { .. } | DeviceCommand::Untail(_)) => {
                "tail a serial console"
            }
            Command::Device(_) => "lend or release a device",
            _ => "end the round",
        }
    }
}

/// `!devices` for anyone allowed; the rest for mayors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceCommand {
    List,
    Lease {
        device: String,
        resident: String,
        secs: u64,
    },
    Release(String),
    Tail {
        device: String,
        baud: Option<u32>,
    },
    Untail(String),
}

fn device_command<'w>(verb: &str, mut words: impl Iterator<Item = &'w str>) -> Command {
    let usage = |u: &str| Command::Usage(format!("Write it as `{u}`."));
    let c = match (verb, words.next()) {
        ("!devices", _) => DeviceCommand::List,
        ("!lease", Some(device)) => {
            let (Some(resident), rest) = (words.next(), words.collect::<Vec<_>>().join(" ")) else {
                return usage("!lease DEVICE RESIDENT DURATION, e.g. !lease ttyUSB0 ada 2h");
            };
            match townhall_wire::hall::lease_duration(&rest) {
                Ok(d) => DeviceCommand::Lease {
                    device: device.into(),
                    resident: resident.into(),
                    secs: d.as_secs(),
                },
                Err(e) => {
                    return Command::Usage(format!(
                        "{e}. Write it as `!lease DEVICE RESIDENT DURATION`, e.g. `!lease ttyUSB0 ada 2h`."
                    ));
                }
            }
        }
        ("!release", Some(device)) => DeviceCommand::Release(device.into()),
        ("!untail", Some(device)) => DeviceCommand::Untail(device.into()),
        ("!tail", Some(device)) => match words.next().map(str::parse::<u32>) {
            None => DeviceCommand::Tail {
                device: device.into(),
                baud: None,
            },
            Some(Ok(b)) if townhall_config::serial::is_rate(b) => DeviceCommand::Tail {
                device: device.into(),
                baud: Some(b),
            },
            Some(_) => {
                return Command::Usage(format!(
                    "The baud rate is one of {}: `!tail DEVICE [BAUD]`.",
                    townhall_config::serial::RATES
                ));
            }
        },
        ("!tail", None) => return usage("!tail DEVICE [BAUD], e.g. !tail ttyUSB0 115200"),
        (v, None) => return usage(&format!("{v} DEVICE, e.g. {v} ttyUSB0")),
        _ => return Command::Turn(String::new()),
    };
    Command::Device(c)
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
        Some(verb @ ("!devices" | "!lease" | "!release" | "!tail" | "!untail")) => {
            device_command(verb, words)
        }
        Some("!log") => Command::Log(
            words
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(20)
                .clamp(1, 200),
        ),
        _ => Command::Turn(t.to_string()),
    }
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
    if !m.allowed {
        return Decision::Refused(format!("{} is not allowed to command {}", m.sender, m.name));
    }
    match command(text) {
        Command::Turn(t) if t.is_empty() => Decision::Pass,
        c @ (Command::Reset | Command::ResetYes) if !m.is_mayor => Decision::MayorsOnly(c),
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
            file: false,
        }
    }

    #[test]
    fn files_come_from_allowed_humans_in_a_dm_or_with_an_addressing_caption() {
        let file = |sender, body, direct| Incoming {
            file: true,
            ..msg(sender, body, direct)
        };
        assert_eq!(
            decide(&file("@mayor:town.test", "", true)),
            Decision::Act(Command::File { caption: None })
        );
        assert_eq!(
            decide(&file("@mayor:town.test", "ada: what is this?", false)),
            Decision::Act(Command::File {
                caption: Some("what is this?".into())
            })
        );
        assert_eq!(
            decide(&file("@mayor:town.test", "", false)),
            Decision::Pass,
            "a shared room's file for nobody in particular"
        );
        assert!(matches!(
            decide(&file("@eve:town.test", "", true)),
            Decision::Refused(_)
        ));
        assert_eq!(
            decide(&file("@vox:town.test", "ada: take this", false)),
            Decision::Pass,
            "residents do not hand each other files"
        );
    }

    #[test]
    fn in_a_dm_every_message_is_for_the_resident() {
        assert_eq!(
            decide(&msg("@mayor:town.test", "fix the build", true)),
            Decision::Act(Command::Turn("fix the build".into()))
        );
        assert_eq!(
            decide(&msg("@mayor:town.test", "!stop", true)),
            Decision::Act(Command::Stop)
        );
        assert_eq!(
            decide(&msg("@mayor:town.test", "!log 5", true)),
            Decision::Act(Command::Log(5))
        );
        assert_eq!(
            decide(&msg("@mayor:town.test", "!branches", true)),
            Decision::Act(Command::Branches)
        );
    }

    #[test]
    fn in_a_shared_room_only_when_addressed() {
        assert_eq!(
            decide(&msg("@mayor:town.test", "vox: summarise this", false)),
            Decision::Pass
        );
        assert_eq!(
            decide(&msg("@mayor:town.test", "ada: run the tests", false)),
            Decision::Act(Command::Turn("run the tests".into()))
        );
        assert_eq!(
            decide(&msg("@mayor:town.test", "@ada:town.test, hi", false)),
            Decision::Act(Command::Turn("hi".into()))
        );
        let mut m = msg("@mayor:town.test", "what do you think?", false);
        m.mentioned = true;
        assert_eq!(
            decide(&m),
            Decision::Act(Command::Turn("what do you think?".into()))
        );
    }

    #[test]
    fn strangers_never_start_turns_and_own_messages_notices_edits_pass() {
        assert!(matches!(
            decide(&msg("@eve:town.test", "rm -rf /", true)),
            Decision::Refused(_)
        ));
        // A display name that looks like the mayor's changes nothing: identity is the user ID.
        assert!(matches!(
            decide(&msg("@mayor2:town.test", "hi", true)),
            Decision::Refused(_)
        ));
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
        assert!(
            matches!(decide(&m), Decision::Refused(_)),
            "vox is not in ada's allow"
        );
        m.allowed = true;
        assert_eq!(
            decide(&m),
            Decision::Act(Command::Turn("can you check?".into()))
        );
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
        let yes = Incoming {
            body: "!reset yes",
            ..m.clone()
        };
        assert_eq!(decide(&yes), Decision::MayorsOnly(Command::ResetYes));
        let mayor = msg("@mayor:town.test", "!reset yes", true);
        assert_eq!(decide(&mayor), Decision::Act(Command::ResetYes));
    }

    #[test]
    fn device_commands_read_their_words_and_lending_is_for_mayors() {
        let act = |body| decide(&msg("@mayor:town.test", body, true));
        let lease = DeviceCommand::Lease {
            device: "ttyUSB0".into(),
            resident: "ada".into(),
            secs: 7200,
        };
        assert_eq!(
            act("!lease ttyUSB0 ada 2h"),
            Decision::Act(Command::Device(lease.clone()))
        );
        assert_eq!(
            act("!tail ttyS0 9600"),
            Decision::Act(Command::Device(DeviceCommand::Tail {
                device: "ttyS0".into(),
                baud: Some(9600)
            }))
        );
        assert_eq!(
            act("!untail ttyS0"),
            Decision::Act(Command::Device(DeviceCommand::Untail("ttyS0".into())))
        );
        for wrong in [
            "!lease ttyUSB0 ada",
            "!lease ttyUSB0 ada soon",
            "!tail ttyS0 123",
            "!release",
            "!tail",
        ] {
            assert!(
                matches!(act(wrong), Decision::Act(Command::Usage(_))),
                "{wrong}"
            );
        }
        let mut friend = msg("@friend:town.test", "!lease ttyUSB0 ada 2h", true);
        friend.allowed = true;
        assert_eq!(
            decide(&friend),
            Decision::MayorsOnly(Command::Device(lease))
        );
        let list = Incoming {
            body: "!devices",
            ..friend
        };
        assert_eq!(
            decide(&list),
            Decision::Act(Command::Device(DeviceCommand::List))
        );
    }
}
