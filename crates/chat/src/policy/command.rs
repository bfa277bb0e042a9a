//! The commands chat text can become: a turn's prompt, `!status` and the other words of the
//! chat, and the device commands; a command written wrongly becomes how to write it.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Turn(String),
    Help,
    Status,
    Cost,
    Session,
    Stop,
    /// Run the conversations a usage limit parked now.
    Resume,
    New,
    Log(usize),
    /// Say what ending the round would lose, and wait for `!reset yes`: this resident's
    /// round alone, or the whole town's (`!reset all`).
    Reset {
        all: bool,
    },
    ResetYes,
    /// A read-only snapshot of the resident's home now, with a label.
    Checkpoint(String),
    /// The resident's checkpoints.
    Checkpoints,
    /// Say what rolling back to checkpoint N means, and wait for `!rollback yes`.
    Rollback(u64),
    RollbackYes,
    /// A schedule for this resident, answered in this room (`!every "SPEC" PROMPT`).
    Every {
        on: String,
        prompt: String,
    },
    /// The resident's schedules.
    Schedules,
    /// Remove the resident's chat-made schedule N.
    Unschedule(u64),
    /// The resident's branches on the town remote.
    Branches,
    /// What the resident may reach and what was refused this round.
    Network,
    /// This conversation's mode, shown or changed (`!model`, `!effort`, `!plan`).
    Mode(townhall_wire::hall::ModeChange),
    /// A chart of the resident's spending per day over the last N days.
    Spending(u32),
    /// The resident's last N entries in the audit log.
    Audit(u32),
    /// The rules allowed for the rest of the round (🔁); `clear` takes them back.
    Approvals {
        clear: bool,
    },
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
            Command::Every { .. } => "make a schedule",
            Command::Unschedule(_) => "remove a schedule",
            Command::Audit(_) => "read the audit log",
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

/// A command's one optional count: `default` when none is given, None when it is not a
/// number from 1 to `most` or more words follow.
fn count<'w>(mut words: impl Iterator<Item = &'w str>, default: u32, most: u32) -> Option<u32> {
    match (words.next().map(str::parse::<u32>), words.next()) {
        (None, _) => Some(default),
        (Some(Ok(n)), None) if (1..=most).contains(&n) => Some(n),
        _ => None,
    }
}

/// `!model [NAME|default]`, `!effort [LEVEL|default]`, `!plan [off]`.
fn mode(verb: &str, word: Option<&str>, more: Option<&str>) -> Command {
    use townhall_wire::hall::ModeChange;
    let back = |w: &str| matches!(w, "default" | "off" | "none");
    let change = match (verb, word, more) {
        ("!model" | "!effort", None, _) => ModeChange::Show,
        ("!model", Some(w), None) if back(w) => ModeChange::Model(None),
        ("!model", Some(w), None) => ModeChange::Model(Some(w.into())),
        ("!effort", Some(w), None) if back(w) => ModeChange::Effort(None),
        ("!effort", Some(w), None) => ModeChange::Effort(Some(w.into())),
        ("!plan", None, _) | ("!plan", Some("on"), None) => ModeChange::Plan(true),
        ("!plan", Some("off"), None) => ModeChange::Plan(false),
        _ => {
            return Command::Usage(
                "`!model NAME` (or `default`), `!effort LEVEL` (or `default`), `!plan` / `!plan off` set this conversation's next turns; `!model` alone shows them"
                    .into(),
            );
        }
    };
    Command::Mode(change)
}

/// `!every "SPEC" PROMPT` (the spec quoted when it has spaces) or `!every SPEC PROMPT`.
fn every(rest: &str) -> Command {
    let (on, prompt) = match rest.strip_prefix('"') {
        Some(quoted) => match quoted.split_once('"') {
            Some((on, prompt)) => (on, prompt),
            None => ("", ""),
        },
        None => rest.split_once(char::is_whitespace).unwrap_or((rest, "")),
    };
    let (on, prompt) = (on.trim(), prompt.trim());
    if on.is_empty() || prompt.is_empty() {
        return Command::Usage(
            "`!every \"SPEC\" PROMPT` runs PROMPT at the times SPEC names, in systemd's calendar syntax, answered here: e.g. `!every \"Mon..Fri 07:00\" run the tests and report` (`man systemd.time`)"
                .into(),
        );
    }
    Command::Every {
        on: on.into(),
        prompt: prompt.into(),
    }
}

pub(super) fn command(text: &str) -> Command {
    let t = text.trim();
    let mut words = t.split_whitespace();
    match words.next() {
        Some("!help") => Command::Help,
        Some("!status") => Command::Status,
        Some("!cost") => Command::Cost,
        Some("!session") => Command::Session,
        Some("!stop") => Command::Stop,
        Some("!resume") => Command::Resume,
        Some("!new") => Command::New,
        Some("!reset") => match words.next() {
            Some("yes") => Command::ResetYes,
            Some("all") => Command::Reset { all: true },
            None => Command::Reset { all: false },
            Some(_) => Command::Usage(
                "`!reset` ends this resident's round, `!reset all` every resident's; `!reset yes` confirms"
                    .into(),
            ),
        },
        Some("!checkpoint") => Command::Checkpoint(words.collect::<Vec<_>>().join(" ")),
        Some("!checkpoints") => Command::Checkpoints,
        Some("!rollback") => match (words.next(), words.next()) {
            (Some("yes"), None) => Command::RollbackYes,
            (Some(n), None) if n.parse::<u64>().is_ok() => {
                Command::Rollback(n.parse().unwrap_or_default())
            }
            _ => Command::Usage(
                "`!rollback N` rolls this resident's home back to checkpoint N (`!checkpoints` lists them); `!rollback yes` confirms"
                    .into(),
            ),
        },
        Some("!every") => every(t.trim_start_matches("!every").trim_start()),
        Some("!schedules") => Command::Schedules,
        Some("!unschedule") => match (words.next().map(str::parse::<u64>), words.next()) {
            (Some(Ok(n)), None) => Command::Unschedule(n),
            _ => Command::Usage(
                "`!unschedule N` removes this resident's schedule N (`!schedules` lists them)"
                    .into(),
            ),
        },
        Some("!branches") => Command::Branches,
        Some("!network") => Command::Network,
        Some(verb @ ("!model" | "!effort" | "!plan")) => mode(verb, words.next(), words.next()),
        Some("!usage") => {
            let most = townhall_wire::hall::MAX_USAGE_DAYS;
            count(words, 14, most).map_or_else(
                || Command::Usage(format!(
                    "`!usage [DAYS]` charts this resident's tokens and cost per day (1 to {most} days, 14 when not given)"
                )),
                Command::Spending,
            )
        }
        Some("!audit") => {
            let most = townhall_wire::hall::MAX_HISTORY;
            count(words, 10, most).map_or_else(
                || Command::Usage(format!(
                    "`!audit [N]` shows this resident's last N entries in the audit log (1 to {most}, 10 when not given)"
                )),
                Command::Audit,
            )
        }
        Some("!approvals") => match (words.next(), words.next()) {
            (None, _) => Command::Approvals { clear: false },
            (Some("clear"), None) => Command::Approvals { clear: true },
            _ => Command::Usage(
                "`!approvals` lists the rules allowed for the rest of the round (🔁 on an approval); `!approvals clear` takes them back"
                    .into(),
            ),
        },
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
