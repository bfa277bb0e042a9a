//! An answer streamed into one message edited in place, and long answers split safely.

use std::time::Duration;

use tokio::time::Instant;

use super::Chat;
use crate::line::Link;
use townhall_os::OsError;

/// Matrix rejects events over 64 KiB, and an edit carries the text four times (body and
/// formatted body, each in the fallback and in `m.new_content`), HTML-escaped: 10 KiB of
/// markdown per message stays well under the limit.
pub const MAX_MESSAGE: usize = 10 * 1024;
pub const MIN_EDIT_GAP: Duration = Duration::from_secs(1);
/// Clients struggle with rooms whose messages carry hundreds of edits.
pub const MAX_EDITS: u32 = 25;

/// Split `text` into pieces of at most `max` bytes, at paragraph or line ends, never inside
/// a code fence (a fence that must be cut is closed and reopened).
pub fn split(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut fence: Option<String> = None;
    for line in text.split_inclusive('\n') {
        let opens = line.trim_start().starts_with("```");
        if cur.len() + line.len() > max && !cur.is_empty() {
            if let Some(f) = &fence {
                cur.push_str("```\n");
                out.push(std::mem::take(&mut cur));
                cur.push_str(f);
            } else {
                out.push(std::mem::take(&mut cur));
            }
        }
        // A single line longer than max is cut at char boundaries.
        let mut l = line;
        while l.len() > max {
            let mut cut = max.saturating_sub(cur.len()).max(1);
            while !l.is_char_boundary(cut) {
                cut -= 1;
            }
            cur.push_str(&l[..cut]);
            out.push(std::mem::take(&mut cur));
            l = &l[cut..];
        }
        cur.push_str(l);
        if opens {
            fence = if fence.is_some() {
                None
            } else {
                Some(line.trim_start().to_string())
            };
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Accumulates a turn's text and shows it in one message, edited at most every second.
pub struct Streamer<'a, C> {
    chat: &'a C,
    room: String,
    thread: Option<String>,
    event: Option<String>,
    text: String,
    last: Instant,
    edits: u32,
    /// Shown only after the conversation's earlier answer is; the next one's shows once
    /// this streamer is gone (its answer finished, or given up on).
    line: Link,
}

impl<'a, C: Chat> Streamer<'a, C> {
    pub fn new(chat: &'a C, room: &str, thread: Option<&str>) -> Self {
        Self {
            chat,
            room: room.into(),
            thread: thread.map(String::from),
            event: None,
            text: String::new(),
            last: Instant::now(),
            edits: 0,
            line: Link::default(),
        }
    }

    /// Its first message goes to the room only after the earlier answer is whole.
    pub fn in_line(mut self, line: Link) -> Self {
        self.line = line;
        self
    }

    /// Its place in line, for whoever shows the rest of this answer later.
    pub fn take_line(&mut self) -> Link {
        std::mem::take(&mut self.line)
    }

    /// The answer's first message, in its place in the conversation's line.
    async fn first(&mut self, text: &str) -> Result<String, OsError> {
        self.line.wait().await;
        self.chat
            .send(&self.room, self.thread.as_deref(), text)
            .await
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    fn shown(&self) -> String {
        let mut t = split(&self.text, MAX_MESSAGE)
            .into_iter()
            .next()
            .unwrap_or_default();
        t.push_str(" …");
        t
    }

    pub async fn push(&mut self, more: &str) -> Result<(), OsError> {
        self.text.push_str(more);
        match &self.event {
            None => {
                let shown = self.shown();
                let id = self.first(&shown).await?;
                self.event = Some(id);
                self.last = Instant::now();
            }
            // Keep one edit in reserve for the final text.
            Some(id) if self.last.elapsed() >= MIN_EDIT_GAP && self.edits + 1 < MAX_EDITS => {
                self.chat.edit(&self.room, id, &self.shown()).await?;
                self.edits += 1;
                self.last = Instant::now();
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The final text: edited into the message, the rest (if long) as follow-up messages.
    pub async fn finish(&mut self, footer: Option<&str>) -> Result<(), OsError> {
        if let Some(f) = footer {
            if !self.text.is_empty() && !self.text.ends_with('\n') {
                self.text.push('\n');
            }
            self.text.push_str(f);
        }
        if self.text.trim().is_empty() {
            self.text = "(no answer)".into();
        }
        let mut parts = split(&self.text, MAX_MESSAGE).into_iter();
        let first = parts.next().unwrap_or_default();
        match &self.event {
            Some(id) => self.chat.edit(&self.room, id, &first).await?,
            None => {
                self.first(&first).await?;
            }
        }
        for p in parts {
            self.chat
                .send(&self.room, self.thread.as_deref(), &p)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeChat;

    #[test]
    fn long_answers_split_outside_code_fences() {
        let code = format!("```rust\n{}```\n", "let x = 1;\n".repeat(40));
        let text = format!("intro\n\n{code}outro\n");
        let parts = split(&text, 200);
        assert!(parts.len() > 2);
        for p in &parts {
            assert!(p.len() <= 200 + 4, "{} bytes", p.len());
            assert_eq!(p.matches("```").count() % 2, 0, "unbalanced fence in {p:?}");
        }
        let joined: String = parts.concat();
        assert_eq!(joined.replace("```\n```rust\n", ""), text);
    }

    #[test]
    fn a_100_kb_answer_arrives_whole() {
        let text = "word ".repeat(20_000) + "\n";
        let parts = split(&text, MAX_MESSAGE);
        assert!(parts.iter().all(|p| p.len() <= MAX_MESSAGE));
        assert_eq!(parts.concat(), text);
    }

    #[tokio::test(start_paused = true)]
    async fn edits_are_spaced_capped_and_end_with_the_full_text() {
        let chat = FakeChat::default();
        let mut s = Streamer::new(&chat, "!r:t", None);
        for i in 0..200 {
            s.push(&format!("chunk {i} ")).await.unwrap();
            tokio::time::advance(Duration::from_millis(300)).await;
        }
        let full = s.text().to_string();
        s.finish(None).await.unwrap();
        let calls = chat.calls.calls();
        let edits = calls.iter().filter(|c| c.starts_with("edit")).count();
        assert!(edits as u32 <= MAX_EDITS, "{edits} edits");
        assert!(
            calls.last().unwrap().ends_with(&full),
            "the last edit is the whole answer"
        );
        assert_eq!(calls.iter().filter(|c| c.starts_with("send")).count(), 1);
    }

    #[tokio::test]
    async fn a_later_answer_shows_only_once_the_earlier_one_is_whole() {
        let chat = FakeChat::default();
        let mut line = crate::line::Line::default();
        let (mut first, mut second) = (line.place("c"), line.place("c"));
        let early = Streamer::new(&chat, "!r:t", None).in_line(std::mem::take(&mut first.post));
        let mut late = Streamer::new(&chat, "!r:t", None).in_line(std::mem::take(&mut second.post));
        tokio::join!(async { late.push("second").await.unwrap() }, async move {
            let mut early = early;
            tokio::task::yield_now().await;
            early.push("first").await.unwrap();
            tokio::task::yield_now().await;
            early.finish(Some("done")).await.unwrap();
        });
        let calls = chat.calls.calls();
        let late_at = calls.iter().position(|c| c.contains("second")).unwrap();
        let early_done = calls.iter().position(|c| c.contains("done")).unwrap();
        assert!(early_done < late_at, "{calls:?}");
    }
}
