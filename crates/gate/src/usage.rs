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
        let mut rest = chunk;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            if !self.skipping {
                self.pending.extend_from_slice(&rest[..end]);
                let line = std::mem::take(&mut self.pending);
                self.line(&line);
            }
            self.skipping = false;
            self.pending.clear();
            rest = &rest[end + 1..];
        }
        if self.pending.len() + rest.len() > LINE_MAX {
            self.skipping = true;
            self.pending.clear();
        } else if !self.skipping {
            self.pending.extend_from_slice(rest);
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
