//! An agent's question to the mayors (the town's `ask_mayor` tool) in the room: a new
//! message that mentions them, its choices as numbered reactions the bot puts under it;
//! the first answer — one of those reactions, or a reply to the message — from a human the
//! resident takes commands from goes to root (`Ask::Answer`, checked there again), and the
//! message is edited to say how it ended.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Chat;
use townhall_wire::hall::Said;

/// A question posted and not yet ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Open {
    pub id: u64,
    pub resident: String,
    pub room: String,
    pub choices: Vec<String>,
    text: String,
}

/// Questions posted, by their event.
#[derive(Default)]
pub struct Questions(Mutex<HashMap<String, Open>>);

/// The reaction for choice `i` (from 0): a keycap digit.
pub fn key(i: usize) -> String {
    format!("{}\u{fe0f}\u{20e3}", i + 1)
}

/// The choice a reaction picks, if it is one of the question's keycaps.
pub fn picked<'c>(choices: &'c [String], reaction: &str) -> Option<&'c str> {
    let bare = |k: &str| k.replace('\u{fe0f}', "");
    (0..choices.len())
        .find(|i| bare(&key(*i)) == bare(reaction))
        .map(|i| choices[i].as_str())
}

/// A reply's words without the quoted fallback some clients put above them.
pub fn reply_words(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let start = lines
        .iter()
        .position(|l| !l.starts_with('>'))
        .unwrap_or(lines.len());
    lines[start..].join("\n").trim().to_string()
}

pub fn question(
    resident: &str,
    question: &str,
    choices: &[String],
    mention: &[String],
    wait_secs: u64,
) -> String {
    let wait = humantime::format_duration(std::time::Duration::from_secs(wait_secs));
    let how = match choices.is_empty() {
        true => "Reply to this message to answer.".to_string(),
        false => {
            let listed: Vec<String> = choices
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{} {}", key(i), c.replace('`', "'")))
                .collect();
            format!(
                "{}\n\nReact with your choice, or reply to this message.",
                listed.join(" · ")
            )
        }
    };
    format!(
        "❓ **{resident} asks** {}:\n\n{}\n\n{how} Without an answer within {wait}, {resident} is told there was none.",
        townhall_wire::markdown::pills(mention),
        townhall_wire::markdown::quoted(question),
    )
}

impl Questions {
    /// A question asked or ended, from the daemon's subscription.
    pub async fn heard<C: Chat>(&self, chat: &C, s: Said) {
        match s {
            Said::Question {
                id,
                resident,
                room,
                thread,
                question: q,
                choices,
                mention,
                wait_secs,
            } => {
                let text = question(&resident, &q, &choices, &mention, wait_secs);
                let event = match chat
                    .send_mentioning(&room, thread.as_deref(), &text, &mention)
                    .await
                {
                    Ok(event) => event,
                    Err(e) => return tracing::warn!(%resident, "asking question {id}: {e}"),
                };
                let open = Open {
                    id,
                    resident: resident.clone(),
                    room: room.clone(),
                    choices: choices.clone(),
                    text,
                };
                self.0.lock().expect("lock").insert(event.clone(), open);
                for i in 0..choices.len() {
                    if let Err(e) = chat.react(&room, &event, &key(i)).await {
                        tracing::warn!(%resident, "offering choice {} of question {id}: {e}", i + 1);
                    }
                }
            }
            Said::QuestionEnded { id, answer, by, .. } => self.ended(chat, id, answer, by).await,
            _ => {}
        }
    }

    /// The question `target` is, if it is one of ours in `room`.
    pub fn of(&self, room: &str, target: &str) -> Option<Open> {
        self.0
            .lock()
            .expect("lock")
            .get(target)
            .filter(|o| o.room == room)
            .cloned()
    }

    async fn ended<C: Chat>(&self, chat: &C, id: u64, answer: Option<String>, by: Option<String>) {
        let found = {
            let mut m = self.0.lock().expect("lock");
            let event = m.iter().find(|(_, o)| o.id == id).map(|(e, _)| e.clone());
            event.and_then(|e| m.remove(&e).map(|o| (e, o)))
        };
        let Some((event, open)) = found else {
            return;
        };
        let end = match (answer, by) {
            (Some(a), Some(by)) => format!(
                "**✅ answered by {by}:** {}",
                crate::questions::one_line(&a)
            ),
            _ => "**⌛ no answer in time**".to_string(),
        };
        if let Err(e) = chat
            .edit(&open.room, &event, &format!("{}\n\n{end}", open.text))
            .await
        {
            tracing::warn!("closing question {id}: {e}");
        }
    }
}

/// An answer shown on one line, bounded.
fn one_line(s: &str) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeChat;

    #[tokio::test]
    async fn a_question_mentions_the_mayors_offers_its_choices_and_is_closed() {
        let chat = FakeChat::default();
        let q = Questions::default();
        let choices = vec!["red".to_string(), "blue".to_string()];
        q.heard(
            &chat,
            Said::Question {
                id: 3,
                resident: "ada".into(),
                room: "!r".into(),
                thread: None,
                question: "red or blue?".into(),
                choices: choices.clone(),
                mention: vec!["@mayor:town.test".into()],
                wait_secs: 300,
            },
        )
        .await;
        let calls = chat.calls.calls();
        assert!(
            calls[0].starts_with("send !r mentioning @mayor:town.test ❓ **ada asks**"),
            "{calls:?}"
        );
        assert!(calls[0].contains("1️⃣ red · 2️⃣ blue") && calls[0].contains("within 5m"));
        assert_eq!(
            calls[1..],
            ["react !r $event1 1️⃣", "react !r $event1 2️⃣"].map(String::from)
        );
        let open = q.of("!r", "$event1").unwrap();
        assert_eq!((open.id, open.resident.as_str()), (3, "ada"));
        assert!(q.of("!elsewhere", "$event1").is_none());
        assert_eq!(
            picked(&open.choices, "2\u{20e3}"),
            Some("blue"),
            "without the variation selector too"
        );
        assert_eq!(picked(&open.choices, "3️⃣"), None);
        assert_eq!(picked(&open.choices, "✅"), None);
        q.heard(
            &chat,
            Said::QuestionEnded {
                id: 3,
                resident: "ada".into(),
                answer: Some("blue".into()),
                by: Some("@mayor:town.test".into()),
            },
        )
        .await;
        assert!(chat.calls.calls()[3].contains("✅ answered by @mayor:town.test:** blue"));
        assert!(
            q.of("!r", "$event1").is_none(),
            "ended: no longer answerable"
        );
    }

    #[test]
    fn a_replys_quoted_fallback_is_not_the_answer() {
        assert_eq!(
            reply_words("> <@ada:t> red or blue?\n\nblue, please"),
            "blue, please"
        );
        assert_eq!(reply_words("just this"), "just this");
    }
}
