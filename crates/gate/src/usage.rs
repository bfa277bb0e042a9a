//! What an answer used, read by the gate as the answer streams past: the figures budgets
//! count come from the upstream's own words, never from what a resident's CLI prints.
//!
//! Every API reports usage cumulatively, in its own place: Anthropic in `message_start`
//! and `message_delta` events (or the whole message), OpenAI's Responses API in its
//! `response.completed` event (Chat Completions in `usage`), Gemini in each chunk's
//! `usageMetadata`. The meter keeps the largest figure seen for each count.

use serde_json::Value;

/// Tokens one request used, and the model that answered (as the upstream named it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Usage {
    pub model: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A line longer than this is skipped: no usage event comes near it.
const LINE_MAX: usize = 1 << 20;
/// A whole (not streamed) JSON answer is read for usage up to this size.
const BODY_MAX: usize = 16 << 20;

/// What every event that reports usage holds (`"usage"`, `"usageMetadata"`): the other
/// events, most of a stream, are not parsed.
static USAGE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"usage"));

/// Reads an answer's bytes as they pass, without holding them back.
#[derive(Debug)]
pub struct Meter {
    streamed: bool,
    pending: Vec<u8>,
    skipping: bool,
    usage: Usage,
}

impl Meter {
    /// `content_type` is the answer's: `text/event-stream` is read event by event, anything
    /// else as one JSON document.
    pub fn new(content_type: Option<&str>) -> Self {
        let streamed = content_type.is_some_and(|c| c.starts_with("text/event-stream"));
        Self {
            streamed,
            pending: Vec::new(),
            skipping: false,
            usage: Usage::default(),
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        if !self.streamed {
            if self.pending.len() + chunk.len() <= BODY_MAX {
                self.pending.extend_from_slice(chunk);
            } else {
                self.skipping = true;
            }
            return;
        }
        let Some(first) = memchr::memchr(b'\n', chunk) else {
            self.hold(chunk);
            return;
        };
        // The line an earlier chunk began ends here.
        if !self.skipping {
            self.pending.extend_from_slice(&chunk[..first]);
            let line = std::mem::take(&mut self.pending);
            self.line(&line);
            self.pending = line;
        }
        self.skipping = false;
        self.pending.clear();
        let last = memchr::memrchr(b'\n', chunk).unwrap_or(first);
        self.whole_lines(&chunk[first + 1..=last]);
        self.hold(&chunk[last + 1..]);
    }

    /// The start of a line the next chunk ends, kept unless the line grows too long.
    fn hold(&mut self, part: &[u8]) {
        if self.pending.len() + part.len() > LINE_MAX {
            self.skipping = true;
            self.pending.clear();
        } else if !self.skipping {
            self.pending.extend_from_slice(part);
        }
    }

    /// Lines, each ended by `\n`: only those that name usage are looked at, found in one
    /// pass over the bytes (most of a stream is text no meter needs to read line by line).
    fn whole_lines(&mut self, lines: &[u8]) {
        let mut from = 0;
        while let Some(at) = USAGE.find(&lines[from..]) {
            let at = from + at;
            let start = memchr::memrchr(b'\n', &lines[..at]).map_or(0, |n| n + 1);
            let end = memchr::memchr(b'\n', &lines[at..]).map_or(lines.len(), |n| at + n);
            self.line(&lines[start..end]);
            from = (end + 1).min(lines.len());
        }
    }

    /// What the whole answer used (or as much of it as arrived).
    pub fn finish(mut self) -> Usage {
        if self.streamed {
            let line = std::mem::take(&mut self.pending);
            if !self.skipping {
                self.line(&line);
            }
        } else if !self.skipping
            && let Ok(v) = serde_json::from_slice::<Value>(&self.pending)
        {
            self.observe(&v);
        }
        self.usage
    }

    fn line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else {
            return;
        };
        if USAGE.find(data).is_none() {
            return;
        }
        if let Ok(v) = serde_json::from_slice::<Value>(data.trim_ascii()) {
            self.observe(&v);
        }
    }

    fn observe(&mut self, v: &Value) {
        // The object an API nests its message in, if it does.
        let inner = [&v["message"], &v["response"]]
            .into_iter()
            .find(|x| x.is_object())
            .unwrap_or(v);
        let model = [&v["model"], &inner["model"], &v["modelVersion"]]
            .into_iter()
            .find_map(Value::as_str);
        if let Some(m) = model {
            self.usage.model = Some(m.to_string());
        }
        let usage = [&v["usage"], &inner["usage"], &v["usageMetadata"]]
            .into_iter()
            .find(|x| x.is_object());
        let Some(u) = usage else {
            return;
        };
        let n = |k: &str| u[k].as_u64().unwrap_or(0);
        let input = n("input_tokens")
            + n("cache_creation_input_tokens")
            + n("cache_read_input_tokens")
            + n("prompt_tokens")
            + n("promptTokenCount");
        let output = n("output_tokens")
            + n("completion_tokens")
            + n("candidatesTokenCount")
            + n("thoughtsTokenCount");
        self.usage.input_tokens = self.usage.input_tokens.max(input);
        self.usage.output_tokens = self.usage.output_tokens.max(output);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `body` in pieces of `size` bytes, as a network would cut it.
    fn metered(content_type: &str, body: &str, size: usize) -> Usage {
        let mut m = Meter::new(Some(content_type));
        for piece in body.as_bytes().chunks(size) {
            m.feed(piece);
        }
        m.finish()
    }

    const ANTHROPIC: &str = "event: message_start\n\
        data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":100,\"output_tokens\":1}}}\n\n\
        event: content_block_delta\n\
        data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"usage: 999999\"}}\n\n\
        event: message_delta\n\
        data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":42}}\n\n\
        event: message_stop\n\
        data: {\"type\":\"message_stop\"}\n\n";

    #[test]
    fn anthropic_stream_in_any_cut() {
        for size in [1, 7, 64, 4096] {
            let u = metered("text/event-stream; charset=utf-8", ANTHROPIC, size);
            assert_eq!(
                u,
                Usage {
                    model: Some("claude-sonnet-4-5".into()),
                    input_tokens: 112,
                    output_tokens: 42
                },
                "cut at {size}"
            );
        }
    }

    #[test]
    fn usage_among_many_text_events_in_any_cut() {
        let text = "event: content_block_delta\n\
            data: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"a word on \\\"usage\\\": 5\"}}\n\n";
        let start = &ANTHROPIC[..ANTHROPIC.find("event: content_block_delta").unwrap()];
        let end = &ANTHROPIC[ANTHROPIC.find("event: message_delta").unwrap()..];
        let body = format!("{start}{}{end}", text.repeat(300));
        for size in [1, 5, 64, 1000, 4096, 65536] {
            let u = metered("text/event-stream", &body, size);
            assert_eq!(
                (u.model.as_deref(), u.input_tokens, u.output_tokens),
                (Some("claude-sonnet-4-5"), 112, 42),
                "cut at {size}"
            );
        }
    }

    #[test]
    fn openai_responses_completed_event() {
        let body = "event: response.created\n\
            data: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-5\",\"usage\":null}}\n\n\
            event: response.completed\n\
            data: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-5\",\"usage\":{\"input_tokens\":30,\"output_tokens\":7,\"total_tokens\":37}}}\n\n";
        let u = metered("text/event-stream", body, 5);
        assert_eq!(
            (u.model.as_deref(), u.input_tokens, u.output_tokens),
            (Some("gpt-5"), 30, 7)
        );
    }

    #[test]
    fn gemini_chunks_report_cumulatively() {
        let body = "data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":2},\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n\
            data: {\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":5,\"thoughtsTokenCount\":3},\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n";
        let u = metered("text/event-stream", body, 3);
        assert_eq!(
            (u.model.as_deref(), u.input_tokens, u.output_tokens),
            (Some("gemini-2.5-pro"), 9, 8)
        );
    }

    #[test]
    fn a_whole_json_answer() {
        let body = r#"{"type":"message","model":"claude-haiku","usage":{"input_tokens":3,"output_tokens":4}}"#;
        let u = metered("application/json", body, 10);
        assert_eq!((u.input_tokens, u.output_tokens), (3, 4));
    }

    #[test]
    fn an_answer_cut_short_counts_what_arrived() {
        let cut = &ANTHROPIC[..ANTHROPIC.find("event: message_delta").unwrap()];
        let u = metered("text/event-stream", cut, 16);
        assert_eq!((u.input_tokens, u.output_tokens), (112, 1));
    }

    #[test]
    fn an_endless_line_is_skipped_and_the_next_is_read() {
        let mut m = Meter::new(Some("text/event-stream"));
        let long = vec![b'x'; LINE_MAX + 10];
        m.feed(b"data: ");
        m.feed(&long);
        m.feed(b"\ndata: {\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}\n");
        let u = m.finish();
        assert_eq!((u.input_tokens, u.output_tokens), (1, 2));
    }
}
