//! Stand-ins for the model APIs the real agent CLIs speak, on loopback (the town shares
//! the host's network): Anthropic Messages, OpenAI Responses as codex streams it, and
//! Gemini's streamGenerateContent. Each records every request. Every one plays the same
//! script: asked to "commit", it streams a line of text and a shell tool call that commits
//! a file in the workspace, then a final text with the tool's output once it comes back;
//! anything else gets a greeting.

mod anthropic;
mod gemini;
mod openai;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

pub const GREETING: &str = "hello from the stand-in";
/// What the mayor types to get the tool call.
pub const ASK_COMMIT: &str = "please commit a file";
pub const BEFORE_TOOL: &str = "I will commit.";
/// What the mayor types to get a tool call an approval rule names.
pub const ASK_GUARDED: &str = "please run the guarded command";
/// That call: it leaves `guarded-ran` in the workspace when it runs.
pub const GUARDED: &str = "echo guarded && touch guarded-ran";
/// What the mayor types to get a call another approval rule names (`Bash(echo other*)`).
pub const ASK_OTHER: &str = "please run the other command";
/// That call: it leaves `other-ran` in the workspace when it runs.
pub const OTHER: &str = "echo other && touch other-ran";
/// What the mayor types to get an answer that stops halfway (Anthropic only): its first
/// events are sent, then nothing more until the connection is closed from the other end.
/// Only the first call for each prompt stalls (`please stall halfway: one`); a retry is
/// answered.
pub const ASK_STALL: &str = "please stall halfway";
/// What the mayor types to get a call of the town's `ask_mayor` tool, with two choices.
pub const ASK_QUESTION: &str = "please ask the mayor to choose";
pub const QUESTION: &str = "red or blue?";
/// What the mayor types to get `tell_mayor`, then `town`, in one turn.
pub const ASK_TELL: &str = "please tell the mayor";
pub const TOLD: &str = "halfway there, from the stand-in";
/// What the mayor types to get `town`.
pub const ASK_TOWN: &str = "please look at the town";
/// What the mayor types to get `send_file` of the path that follows it.
pub const ASK_SEND: &str = "please send the file ";
/// What the mayor types to get `ask_resident`: "please ask resident NAME: MESSAGE". A
/// turn that another resident asked for asks that resident back instead, with the same
/// words: two residents that allow each other ask back and forth until the hop limit.
pub const ASK_RESIDENT: &str = "please ask resident ";
/// How root introduces an ask in the asked resident's prompt, after the asker's name.
pub const ASKED_BY: &str = " (another resident of this town";
/// What the mayor types to get `request_device` for ttyS0.
pub const ASK_DEVICE: &str = "please ask for the serial port";

/// The real claude's environment file for the stand-in at `{port}`: its base URL, and a
/// key worthless anywhere else.
pub const CLAUDE_ENV: &str =
    "ANTHROPIC_BASE_URL=http://127.0.0.1:{port}\nANTHROPIC_API_KEY=sk-ant-stand-in-not-a-key\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Anthropic,
    OpenAi,
    Gemini,
}

impl Api {
    /// The directory the tool call commits in, inside the workspace.
    pub fn proof_dir(self) -> &'static str {
        match self {
            Api::Anthropic => "claude-proof",
            Api::OpenAi => "codex-proof",
            Api::Gemini => "gemini-proof",
        }
    }

    /// What the tool call runs, as the resident, in its workspace.
    pub fn commit(self) -> String {
        let d = self.proof_dir();
        format!(
            "mkdir -p {d} && cd {d} && git init -q && echo proof > f && git add f && git commit -q -m 'from {d}' && git log -1 --format=committed-%h"
        )
    }
}

pub struct StandIn {
    pub port: u16,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
    /// Every key header's value it was sent (`x-api-key`, `authorization`,
    /// `x-goog-api-key`), as `name: value`.
    keys: Keys,
    /// How many answers stalled halfway, and how many of those saw their connection closed.
    stalls: Stalls,
}

type Stalls = Arc<Mutex<Stalled>>;

/// The prompts that stalled, and how many of those answers saw their connection closed.
#[derive(Default)]
struct Stalled {
    prompts: Vec<String>,
    closed: usize,
}

type Keys = Arc<Mutex<Vec<String>>>;

impl StandIn {
    pub fn start(api: Api) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let requests: Arc<Mutex<Vec<(String, Value)>>> = Default::default();
        let keys: Keys = Default::default();
        let stalls: Stalls = Default::default();
        let (log, seen, stalled) = (requests.clone(), keys.clone(), stalls.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, seen, stalled) = (log.clone(), seen.clone(), stalled.clone());
                std::thread::spawn(move || {
                    let _ = serve(api, stream, &log, &seen, &stalled);
                });
            }
        });
        Ok(Self {
            port,
            requests,
            keys,
            stalls,
        })
    }

    /// (answers stalled halfway, of those the ones whose connection was closed).
    pub fn stalls(&self) -> (usize, usize) {
        let s = self.stalls.lock().expect("lock");
        (s.prompts.len(), s.closed)
    }

    /// The key headers it was sent, as `name: value`.
    pub fn keys(&self) -> Vec<String> {
        self.keys.lock().expect("lock").clone()
    }

    /// (path, JSON body) of every request so far.
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.requests.lock().expect("lock").clone()
    }

    /// Whether one request carried both messages: the CLI resumed the first exchange.
    pub fn resumed(&self, first: &str, then: &str) -> bool {
        self.requests().iter().any(|(_, r)| {
            let r = r.to_string();
            r.contains(first) && r.contains(then)
        })
    }

    /// The first requests, for a failure's message.
    pub fn summary(&self) -> String {
        let shown: Vec<String> = self
            .requests()
            .iter()
            .take(8)
            .map(|(p, r)| format!("{p} {:.300}", r.to_string()))
            .collect();
        shown.join("\n")
    }
}

/// A response: status line, content type, body.
pub struct Response(pub &'static str, pub &'static str, pub String);

/// What the script says next. `tool_output` is a tool result newer than what the user
/// last typed; `typed` is that text.
pub enum Reply {
    Text(String),
    Tool {
        before: String,
        command: String,
    },
    /// A call of the town's MCP tool whose name ends in `tool` (each CLI prefixes it its
    /// own way), with `input`.
    Town {
        before: String,
        tool: &'static str,
        input: Value,
    },
}

/// A number no other call of this run has had, for tool call ids.
pub fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The full name of the tool the request offers whose name ends in `suffix`: every
/// `name` under its `tools`, however the API nests them.
pub fn offered(req: &Value, suffix: &str) -> String {
    fn names(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(n)) = m.get("name") {
                    out.push(n.clone());
                }
                m.values().for_each(|v| names(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| names(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    names(&req["tools"], &mut all);
    all.into_iter()
        .find(|n| n.ends_with(suffix))
        .unwrap_or_else(|| format!("no-tool-named-{suffix}"))
}

pub fn reply(
    api: Api,
    tool_output: Option<String>,
    typed: Option<String>,
    messages: usize,
) -> Reply {
    match (tool_output, typed) {
        (Some(out), _) => Reply::Text(format!("done: {}", out.trim())),
        (None, Some(t)) if t.contains(ASK_COMMIT) => Reply::Tool {
            before: BEFORE_TOOL.into(),
            command: api.commit(),
        },
        (None, Some(t)) if t.contains(ASK_QUESTION) => Reply::Town {
            before: "I will ask.".into(),
            tool: "ask_mayor",
            input: serde_json::json!({"question": QUESTION, "choices": ["red", "blue"]}),
        },
        (None, Some(t)) if t.contains(ASK_TELL) => Reply::Town {
            before: "I will tell.".into(),
            tool: "tell_mayor",
            input: serde_json::json!({"text": TOLD}),
        },
        (None, Some(t)) if t.contains(ASK_SEND) => Reply::Town {
            before: "I will send it.".into(),
            tool: "send_file",
            input: serde_json::json!({"path": sent_path(&t)}),
        },
        (None, Some(t)) if t.contains(ASK_RESIDENT) => {
            let (name, message) = resident_asked(&t);
            Reply::Town {
                before: format!("I will ask {name}."),
                tool: "ask_resident",
                input: serde_json::json!({"name": name, "message": message}),
            }
        }
        (None, Some(t)) if t.contains(ASK_TOWN) => Reply::Town {
            before: "I will look.".into(),
            tool: "town",
            input: serde_json::json!({}),
        },
        (None, Some(t)) if t.contains(ASK_DEVICE) => Reply::Town {
            before: "I will ask for it.".into(),
            tool: "request_device",
            input: serde_json::json!({"device": "ttyS0", "duration": "10m", "reason": "to read the boot log"}),
        },
        (None, Some(t)) if t.contains(ASK_OTHER) => Reply::Tool {
            before: "I will run the other one.".into(),
            command: OTHER.into(),
        },
        (None, Some(t)) if t.contains(ASK_GUARDED) => Reply::Tool {
            before: "I will run it.".into(),
            command: GUARDED.into(),
        },
        (None, t) => {
            let said: String = t.unwrap_or_default().trim().chars().take(60).collect();
            Reply::Text(format!(
                "{GREETING} ({messages} messages), you said: {said}"
            ))
        }
    }
}

/// Whom to ask and what: the resident that asked this turn, else the one named.
fn resident_asked(typed: &str) -> (String, String) {
    let (_, rest) = typed.split_once(ASK_RESIDENT).unwrap_or_default();
    let named = rest
        .split(':')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let message = format!("{ASK_RESIDENT}{}", rest.trim());
    let asker = typed
        .split_once(ASKED_BY)
        .and_then(|(before, _)| before.split_whitespace().last())
        .map(String::from);
    (asker.unwrap_or(named), message)
}

/// The path the mayor asked `send_file` of: the word after ASK_SEND.
fn sent_path(typed: &str) -> String {
    let (_, rest) = typed.split_once(ASK_SEND).unwrap_or_default();
    rest.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Whether the guarded call is offered for `message` for the first time.
pub fn first_offer(message: &str) -> bool {
    static OFFERED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut o = OFFERED.lock().expect("lock");
    let key: String = message.replace(r#""cache_control":{"type":"ephemeral"},"#, "");
    if o.contains(&key) {
        return false;
    }
    o.push(key);
    true
}

/// What a CLI adds to a user turn itself (context, reminders) starts with `<`.
pub fn typed(texts: &[&str]) -> Option<String> {
    let typed: Vec<&str> = texts
        .iter()
        .copied()
        .filter(|t| {
            !t.trim_start().starts_with('<') && !t.trim().is_empty() && t.trim() != "(no content)"
        })
        .collect();
    (!typed.is_empty()).then(|| typed.join(" "))
}

pub fn sse<'a>(events: impl IntoIterator<Item = (Option<&'a str>, Value)>) -> String {
    events
        .into_iter()
        .map(|(name, data)| match name {
            Some(e) => format!("event: {e}\ndata: {data}\n\n"),
            None => format!("data: {data}\n\n"),
        })
        .collect()
}

fn serve(
    api: Api,
    stream: TcpStream,
    log: &Mutex<Vec<(String, Value)>>,
    keys: &Mutex<Vec<String>>,
    stalls: &Mutex<Stalled>,
) -> std::io::Result<()> {
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
        let Some((k, v)) = h.split_once(':') else {
            continue;
        };
        let k = k.to_ascii_lowercase();
        if k == "content-length" {
            length = v.trim().parse().unwrap_or(0);
        }
        if ["x-api-key", "authorization", "x-goog-api-key"].contains(&k.as_str()) {
            keys.lock()
                .expect("lock")
                .push(format!("{k}: {}", v.trim()));
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    log.lock().expect("lock").push((path.clone(), req.clone()));
    let Response(status, kind, body) = match api {
        Api::Anthropic => anthropic::respond(&path, &req),
        Api::OpenAi => openai::respond(&path, &req),
        Api::Gemini => gemini::respond(&path, &req),
    };
    let mut stream = stream;
    // The stalling prompt, up to the end of its JSON string.
    let text = req.to_string();
    let prompt = text
        .find(ASK_STALL)
        .map(|i| text[i..].split('"').next().unwrap_or_default().to_string());
    let stall = match prompt {
        Some(p) if api == Api::Anthropic && req["stream"] == true => {
            let mut s = stalls.lock().expect("lock");
            let first = !s.prompts.contains(&p);
            if first {
                s.prompts.push(p);
            }
            first
        }
        _ => false,
    };
    let sent = match stall {
        // The first events (message_start and the first block's start), then nothing.
        true => body.match_indices("\n\n").nth(1).map_or(0, |(i, _)| i + 2),
        false => body.len(),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        &body[..sent]
    )?;
    stream.flush()?;
    if stall {
        // Held until the other end goes: a read returns nothing (or fails) once it has.
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        stalls.lock().expect("lock").closed += 1;
    }
    Ok(())
}
