//! Approvals in the room: one new message describing the tool call that mentions the
//! resident's approvers (so their phones ring), an approver's ✅, 🔁 or ❌ reaction on it
//! decides (told to root as `Ask::Decide`, which checks who reacted), and the message is
//! edited to say how it ended, the timeout's no included.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Chat;

/// An approval message posted and not yet ended.
struct Open {
    id: u64,
    resident: String,
    room: String,
    text: String,
}

/// Approval messages posted and not yet ended, by event id.
#[derive(Default)]
pub struct Asked(Mutex<HashMap<String, Open>>);

/// What a reaction on an approval says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Deny,
    /// Allow, and the same rule for the rest of the round.
    Round,
}

/// ✅ (or 👍) allows, 🔁 allows for the round, ❌ (or 👎) denies; any other reaction is not
/// an answer.
pub fn decision(key: &str) -> Option<Verdict> {
    match key.trim_end_matches('\u{fe0f}') {
        "✅" | "✔" | "👍" => Some(Verdict::Allow),
        "🔁" => Some(Verdict::Round),
        "❌" | "✖" | "👎" => Some(Verdict::Deny),
        _ => None,
    }
}

/// A question as asked, from root's `Said::Approval`.
pub struct Question<'a> {
    pub resident: &'a str,
    pub tool: &'a str,
    pub subject: &'a str,
    pub rule: &'a str,
    pub wait_secs: u64,
    pub approvers: &'a [String],
    /// 🔁 is offered.
    pub round: bool,
}

pub fn question(q: &Question) -> String {
    let who = townhall_wire::markdown::pills(q.approvers);
    format!(
        "{}

{who}",
        words(q)
    )
}

fn words(q: &Question) -> String {
    let Question {
        resident,
        tool,
        subject,
        rule,
        wait_secs,
        ..
    } = *q;
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
    let round = match q.round {
        true => format!(
            ", 🔁 to allow `{}` for the rest of the round,",
            rule.replace('`', "'")
        ),
        false => String::new(),
    };
    format!(
        "**{resident} asks to run `{tool}`** (the rule `{rule}` needs an approver's yes):\n{}\nReact ✅ to allow{round} or ❌ to deny. Without an answer within {} it is denied.",
        townhall_wire::markdown::fenced(subject),
        wait
    )
}

/// Where a question goes: a room (and thread), mentioning these users.
pub struct Place<'a> {
    pub room: &'a str,
    pub thread: Option<&'a str>,
    pub mention: &'a [String],
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
                approvers,
                round,
            } => {
                let q = Question {
                    resident: &resident,
                    tool: &tool,
                    subject: &subject,
                    rule: &rule,
                    wait_secs,
                    approvers: &approvers,
                    round,
                };
                let text = question(&q);
                // Where the bot runs the room, who answers shows in its power levels.
                if let Err(e) = crate::roles::reflect(chat, &room, &approvers).await {
                    tracing::debug!(%resident, "approvers' power levels: {e}");
                }
                let at = Place {
                    room: &room,
                    thread: thread.as_deref(),
                    mention: &approvers,
                };
                self.ask(chat, id, &resident, at, &text).await
            }
            townhall_wire::hall::Said::ApprovalEnded {
                id, allow, reason, ..
            } => self.ended(chat, id, allow, &reason).await,
            _ => {}
        }
    }

    /// Post the question, mentioning the approvers; remember it under its event.
    pub async fn ask<C: Chat>(&self, chat: &C, id: u64, resident: &str, at: Place<'_>, text: &str) {
        match chat
            .send_mentioning(at.room, at.thread, text, at.mention)
            .await
        {
            Ok(event) => {
                let open = Open {
                    id,
                    resident: resident.to_string(),
                    room: at.room.to_string(),
                    text: text.to_string(),
                };
                self.0.lock().expect("lock").insert(event, open);
            }
            Err(e) => tracing::warn!(%resident, "asking for approval {id}: {e}"),
        }
    }

    /// The approval `target` asks for and whose it is, if it is one of ours in `room`.
    pub fn of(&self, room: &str, target: &str) -> Option<(u64, String)> {
        self.0
            .lock()
            .expect("lock")
            .get(target)
            .filter(|o| o.room == room)
            .map(|o| (o.id, o.resident.clone()))
    }

    /// Approval `id` ended: say how under the question.
    pub async fn ended<C: Chat>(&self, chat: &C, id: u64, allow: bool, reason: &str) {
        let found = {
            let mut m = self.0.lock().expect("lock");
            let event = m.iter().find(|(_, o)| o.id == id).map(|(e, _)| e.clone());
            event.and_then(|e| m.remove(&e).map(|o| (e, o.room, o.text)))
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

    fn asked<'a>(tool: &'a str, subject: &'a str, rule: &'a str, wait_secs: u64) -> Question<'a> {
        Question {
            resident: "ada",
            tool,
            subject,
            rule,
            wait_secs,
            approvers: &[],
            round: false,
        }
    }

    #[test]
    fn a_device_request_names_the_device_the_span_and_quotes_the_reason() {
        let subject = "/dev/ttyS0 for 10m: to read\nthe **boot** log";
        let q = Question {
            resident: "vox",
            ..asked(townhall_wire::hall::DEVICE_TOOL, subject, "", 60)
        };
        let text = question(&q);
        assert!(
            text.starts_with(
                "**vox asks for `/dev/ttyS0`** for 10m:\n> to read\n> the **boot** log"
            ),
            "{text}"
        );
        assert!(text.contains("React ✅ to lend it or ❌ to refuse"));
    }

    #[test]
    fn a_tool_question_names_its_approvers_and_offers_the_round_when_root_does() {
        let approvers = ["@rita:t".to_string()];
        let q = Question {
            approvers: &approvers,
            round: true,
            ..asked("Bash", "git push", "Bash(git push*)", 60)
        };
        let text = question(&q);
        assert!(
            text.contains("🔁 to allow `Bash(git push*)` for the rest of the round")
                && text.ends_with("[@rita:t](https://matrix.to/#/@rita:t)"),
            "{text}"
        );
        let plain = question(&asked("Bash", "git push", "Bash(git push*)", 60));
        assert!(!plain.contains('🔁'), "{plain}");
    }

    #[tokio::test]
    async fn a_question_is_asked_once_answered_by_its_reactions_and_closed() {
        assert_eq!(
            (
                decision("✅"),
                decision("✅\u{fe0f}"),
                decision("🔁"),
                decision("👎"),
                decision("🎉")
            ),
            (
                Some(Verdict::Allow),
                Some(Verdict::Allow),
                Some(Verdict::Round),
                Some(Verdict::Deny),
                None
            )
        );
        let text = question(&asked(
            "Bash",
            "git push ``` origin",
            "Bash(git push*)",
            300,
        ));
        assert!(
            text.contains("````\ngit push ``` origin\n````") && text.contains("within 5m"),
            "{text}"
        );
        let (chat, asked) = (FakeChat::default(), Asked::default());
        let mayors = ["@mayor:t".to_string()];
        let at = Place {
            room: "!r",
            thread: None,
            mention: &mayors,
        };
        asked.ask(&chat, 7, "ada", at, &text).await;
        let event = chat.calls.calls()[0].clone();
        assert!(
            event.starts_with("send !r mentioning @mayor:t **ada asks to run `Bash`**"),
            "{event}"
        );
        assert_eq!(asked.of("!r", "$event1"), Some((7, "ada".into())));
        assert_eq!(
            asked.of("!other", "$event1"),
            None,
            "a reaction in another room"
        );
        asked
            .ended(
                &chat,
                7,
                false,
                "denied: no one who approves answered within 5m",
            )
            .await;
        assert!(
            chat.calls.calls()[1].starts_with("edit !r $event1 **ada asks")
                && chat.calls.calls()[1]
                    .ends_with("**❌ denied: no one who approves answered within 5m**")
        );
        assert_eq!(
            asked.of("!r", "$event1"),
            None,
            "ended: reactions no longer count"
        );
    }
}
