//! A stand-in for the Anthropic Messages API on loopback, for the real claude CLI in the
//! town (the container shares the host's network). It records every request. Asked to
//! "commit", it answers with a Bash tool call that commits a file in the workspace, then
//! with a final text once the tool's result comes back; otherwise it streams a greeting.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

pub const GREETING: &str = "hello from the stand-in";
/// What the tool call runs, as the resident, in its workspace.
pub const COMMIT: &str = "mkdir -p claude-proof && cd claude-proof && git init -q && echo proof > f && git add f && git commit -q -m 'from claude' && git log -1 --format=committed-%h";

pub struct Anthropic {
    pub port: u16,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Anthropic {
    pub fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests: Arc<Mutex<Vec<(String, Value)>>> = Default::default();
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &log);
                });
            }
        });
        Ok(Self { port, requests })
    }

    /// (path, JSON body) of every request so far.
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.requests.lock().expect("lock").clone()
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<(String, Value)>>) -> std::io::Result<()> {
    let mut r = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut length = 0;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    log.lock().expect("lock").push((path.clone(), req.clone()));
    let (kind, out) = if path.contains("count_tokens") {
        ("application/json", json!({"input_tokens": 7}).to_string())
    } else if !path.starts_with("/v1/messages") {
        return respond(stream, "404 Not Found", "application/json", "{}");
    } else if req["stream"] == true {
        ("text/event-stream", sse(&reply(&req)))
    } else {
        let text = match reply(&req) {
            Reply::Text(t) => t,
            Reply::Tool(_) => GREETING.into(),
        };
        let m = json!({"id": "msg_s", "type": "message", "role": "assistant", "model": req["model"], "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 11, "output_tokens": 5}});
        ("application/json", m.to_string())
    };
    respond(stream, "200 OK", kind, &out)
}

fn respond(mut stream: TcpStream, status: &str, kind: &str, body: &str) -> std::io::Result<()> {
    write!(stream, "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
    stream.flush()
}

enum Reply {
    Text(String),
    Tool(String),
}

/// Read back from the newest message: a tool result (after the user last typed) is
/// answered with its output; what the user typed decides otherwise ("please commit" asks
/// for the tool call). Messages claude adds itself (system notes, `<…>` reminders) are
/// skipped.
fn reply(req: &Value) -> Reply {
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    let blocks = |m: &Value| match &m["content"] {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(a) => a.clone(),
        _ => vec![],
    };
    for m in messages.iter().rev().filter(|m| m["role"] == "user") {
        let b = blocks(m);
        if let Some(r) = b.iter().find(|b| b["type"] == "tool_result") {
            let output = match &r["content"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Reply::Text(format!("done: {}", output.trim()));
        }
        let typed: Vec<&str> = b.iter().filter_map(|b| b["text"].as_str()).filter(|t| !t.trim_start().starts_with('<')).collect();
        if !typed.is_empty() {
            if typed.join(" ").contains("please commit") {
                return Reply::Tool(COMMIT.into());
            }
            break;
        }
    }
    Reply::Text(format!("{GREETING} ({} messages)", messages.len()))
}

fn sse(reply: &Reply) -> String {
    let (block, delta, stop) = match reply {
        Reply::Text(t) => (json!({"type": "text", "text": ""}), json!({"type": "text_delta", "text": t}), "end_turn"),
        Reply::Tool(command) => (
            json!({"type": "tool_use", "id": "toolu_standin", "name": "Bash", "input": {}}),
            json!({"type": "input_json_delta", "partial_json": json!({"command": command, "description": "commit a file"}).to_string()}),
            "tool_use",
        ),
    };
    let events = [
        ("message_start", json!({"type": "message_start", "message": {"id": "msg_s", "type": "message", "role": "assistant", "model": "stand-in", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 11, "output_tokens": 1}}})),
        ("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": block})),
        ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": delta})),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        ("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 5}})),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    events.iter().map(|(e, d)| format!("event: {e}\ndata: {d}\n\n")).collect()
}
