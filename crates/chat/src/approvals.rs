//! Approvals in the room: one message describing the tool call, a mayor's ✅ or ❌ reaction
//! on it decides (told to root as `Ask::Decide`), and the message is edited to say how it
//! ended, the timeout's no included.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Chat;

/// Approval messages posted and not yet ended: event id → (approval id, room).
#[derive(Default)]
pub struct Asked(Mutex<HashMap<String, (u64, String, String)>>);

/// ✅ (or 👍) allows, ❌ (or 👎) denies; any other reaction is not an answer.
pub fn decision(key: &str) -> Option<bool> {
    match key.trim_end_matches('\u{fe0f}') {
        "✅" | "✔" | "👍" => Some(true),
        "❌" | "✖" | "👎" => Some(false),
        _ => None,
    }
}

pub fn question(resident: &str, tool: &str, subject: &str, rule: &str, wait_secs: u64) -> String {
    let wait = humantime::format_duration(std::time::Duration::from_secs(wait_secs));
    // The gate's question: a host the resident's `[network] allow` does not name.
    if tool == townhall_wire::ledger::NETWORK_TOOL {
        return format!(
            "**{resident} wants `{}`** through the gate (not in its {rule}): react ✅ to open it for this round or ❌ to refuse. Without an answer within {wait} it is refused.",
            subject.replace('`', "")
        );
    }
    // The town's request_device tool: the subject is "devnode for span: reason".
    if tool == townhall_wire::hall::DEVICE_TOOL {
        let (what, why) = subject.split_once(": ").unwrap_or((subject, ""));
        let (device, span) = what.split_once(" for ").unwrap_or((what, "a while"));
        return format!(
            "**{resident} asks for `{}`** for {span}:\n{}\n\nReact ✅ to lend it or ❌ to refuse. Without an answer within {wait} it is refused.",
            device.replace('`', ""),
            townhall_wire::markdown::quoted(why)
        );
    }
    format!(
        "**{resident} asks to run `{tool}`** (the rule `{rule}` needs a mayor's yes):\n{}\nReact ✅ to allow or ❌ to deny. Without an answer within {} it is denied.",
        townhall_wire::markdown::fenced(subject),
        wait
    )
}

impl Asked {
    /// An approval asked or ended, from the daemon's subscription.
    pub async fn heard<C: Chat>(&self, chat: &C, s: townhall_wire::hall::Said) {
        match s {
            townhall_wire::hall::Said::Approval {
                id,
                resident,
                room,
                thread,
                tool,
                subject,
                rule,
                wait_secs,
            } => {
                let text = question(&resident, &tool, &subject, &rule, wait_secs);
                self.ask(chat, id, &resident, &room, thread.as_deref(), &text)
                    .await
            }
            townhall_wire::hall::Said::ApprovalEnded {
                id, allow, reason, ..
            } => self.ended(chat, id, allow, &reason).await,
            _ => {}
        }
    }

    /// Post the question; remember it under its event.
    pub async fn ask<C: Chat>(
        &self,
        chat: &C,
        id: u64,
        resident: &str,
        room: &str,
        thread: Option<&str>,
        text: &str,
    ) {
        match chat.send(room, thread, text).await {
            Ok(event) => {
                self.0
                    .lock()
                    .expect("lock")
                    .insert(event, (id, room.to_string(), text.to_string()));
            }
            Err(e) => tracing::warn!(%resident, "asking for approval {id}: {e}"),
        }
    }

    /// The approval `target` asks for, if it is one of ours in `room`.
    pub fn of(&self, room: &str, target: &str) -> Option<u64> {
        self.0
            .lock()
            .expect("lock")
            .get(target)
            .filter(|(_, r, _)| r == room)
            .map(|(id, _, _)| *id)
    }

    /// Approval `id` ended: say how under the question.
    pub async fn ended<C: Chat>(&self, chat: &C, id: u64, allow: bool, reason: &str) {
        let found = {
            let mut m = self.0.lock().expect("lock");
            let event = m
                .iter()
                .find(|(_, (i, _, _))| *i == id)
                .map(|(e, _)| e.clone());
            event.and_then(|e| m.remove(&e).map(|(_, room, text)| (e, room, text)))
        };
        let Some((event, room, text)) = found else {
            return;
        };
        let mark = if allow { "✅" } else { "❌" };
        if let Err(e) = chat
            .edit(&room, &event, &format!("{text}\n\n**{mark} {reason}**"))
            .await
        {
            tracing::warn!("closing approval {id}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeChat;

    #[test]
    fn a_device_request_names_the_device_the_span_and_quotes_the_reason() {
        let text = question(
            "vox",
            townhall_wire::hall::DEVICE_TOOL,
            "/dev/ttyS0 for 10m: to read\nthe **boot** log",
            "",
            60,
        );
        assert!(
            text.starts_with(
                "**vox asks for `/dev/ttyS0`** for 10m:\n> to read\n> the **boot** log"
            ),
            "{text}"
        );
        assert!(text.contains("React ✅ to lend it or ❌ to refuse"));
    }

    #[tokio::test]
    async fn a_question_is_asked_once_answered_by_its_reactions_and_closed() {
        assert_eq!(
            (
                decision("✅"),
                decision("✅\u{fe0f}"),
                decision("👎"),
                decision("🎉")
            ),
            (Some(true), Some(true), Some(false), None)
        );
        let text = question("ada", "Bash", "git push ``` origin", "Bash(git push*)", 300);
        assert!(
            text.contains("````\ngit push ``` origin\n````") && text.contains("within 5m"),
            "{text}"
        );
        let (chat, asked) = (FakeChat::default(), Asked::default());
        asked.ask(&chat, 7, "ada", "!r", None, &text).await;
        let event = chat.calls.calls()[0].clone();
        assert!(event.starts_with("send !r **ada asks to run `Bash`**"));
        assert_eq!(asked.of("!r", "$event1"), Some(7));
        assert_eq!(
            asked.of("!other", "$event1"),
            None,
            "a reaction in another room"
        );
        asked
            .ended(&chat, 7, false, "denied: no mayor answered within 5m")
            .await;
        assert!(
            chat.calls.calls()[1].starts_with("edit !r $event1 **ada asks")
                && chat.calls.calls()[1].ends_with("**❌ denied: no mayor answered within 5m**")
        );
        assert_eq!(
            asked.of("!r", "$event1"),
            None,
            "ended: reactions no longer count"
        );
    }
}
