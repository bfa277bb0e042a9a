//! What an agent may put in a tool call: bounded, without NULs, and a choice or a device
//! name on one line. Checked before anything reaches a room.

use crate::tools::Tool;

const MAX_QUESTION: usize = 2000;
const MAX_CHOICES: usize = 9;
const MAX_CHOICE: usize = 80;
const MAX_TELL: usize = 4000;
const MAX_REASON: usize = 500;
const MAX_NAME: usize = 64;
const MAX_PATH: usize = 4096;

fn text(what: &str, s: &str, max: usize) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.len() > max {
        return Err(format!(
            "{what} is {} bytes, over the {max} allowed: say it shorter",
            s.len()
        ));
    }
    if s.contains('\0') {
        return Err(format!("{what} contains a NUL byte"));
    }
    Ok(())
}

fn line(what: &str, s: &str, max: usize) -> Result<(), String> {
    text(what, s, max)?;
    if s.chars().any(char::is_control) {
        return Err(format!("{what} {s:.80?} must be one line of text"));
    }
    Ok(())
}

/// The call's fields, or what is wrong with them.
pub fn tool(t: &Tool) -> Result<(), String> {
    match t {
        Tool::Town => Ok(()),
        Tool::SendFile { path } => line("the path", path, MAX_PATH),
        Tool::AskResident { resident, message } => {
            line("the resident's name", resident, MAX_NAME)?;
            text("the message", message, MAX_TELL)
        }
        Tool::TellMayor { text: t } => text("the text", t, MAX_TELL),
        Tool::AskMayor { question, choices } => {
            text("the question", question, MAX_QUESTION)?;
            if choices.len() > MAX_CHOICES {
                return Err(format!(
                    "{} choices, over the {MAX_CHOICES} a mayor can react with",
                    choices.len()
                ));
            }
            choices
                .iter()
                .try_for_each(|c| line("a choice", c, MAX_CHOICE))
        }
        Tool::RequestDevice {
            device,
            duration,
            reason,
        } => {
            line("the device", device, MAX_NAME)?;
            if device.chars().any(char::is_whitespace) {
                return Err(format!("{device:.80?} is not a device name such as ttyS0"));
            }
            line("the duration", duration, MAX_NAME)?;
            text("the reason", reason, MAX_REASON)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_multiline_and_empty_fields_are_refused() {
        let ask = |q: &str, c: &[&str]| Tool::AskMayor {
            question: q.into(),
            choices: c.iter().map(|s| s.to_string()).collect(),
        };
        assert!(tool(&ask("red or blue?", &["red", "blue"])).is_ok());
        assert!(tool(&ask("", &[])).unwrap_err().contains("empty"));
        assert!(
            tool(&ask(&"x".repeat(3000), &[]))
                .unwrap_err()
                .contains("3000 bytes")
        );
        assert!(tool(&ask("q", &["a\nb"])).unwrap_err().contains("one line"));
        assert!(
            tool(&ask("q", &["c"; 10]))
                .unwrap_err()
                .contains("10 choices")
        );
        assert!(tool(&Tool::TellMayor { text: "a\0".into() }).is_err());
        let dev = |d: &str| Tool::RequestDevice {
            device: d.into(),
            duration: "1h".into(),
            reason: "flash it".into(),
        };
        assert!(tool(&dev("ttyS0")).is_ok());
        assert!(tool(&dev("tty S0")).is_err());
        assert!(tool(&dev("../../etc/shadow\n")).is_err());
    }
}
