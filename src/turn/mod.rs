//! Turns: a message becomes one run of the resident's agent CLI. Drivers turn each CLI's
//! output into events.

/// What a driver makes of the CLI's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    /// Text to append to the answer.
    Text(String),
    /// The CLI's own session id, to continue the conversation next turn.
    Session(String),
}

/// The `command` driver: any program; every stdout line is reply text.
pub fn command_line(line: &str) -> TurnEvent {
    TurnEvent::Text(format!("{line}\n"))
}
