//! Anthropic Messages with SSE streaming, as claude uses it.

use serde_json::{Value, json};

use super::{Api, Reply, Response, reply, sse, typed};

pub fn respond(path: &str, req: &Value) -> Response {
    if path.contains("count_tokens") {
        return Response(
            "200 OK",
            "application/json",
            json!({"input_tokens": 7}).to_string(),
        );
    }
    if !path.starts_with("/v1/messages") {
        return Response("404 Not Found", "application/json", "{}".into());
    }
    let mut r = next(req);
    // claude drops a call its hook denied and asks again with the same last message: the
    // guarded call is offered once per message, then the script says it was not run.
    if req["stream"] == true
        && matches!(&r, Reply::Tool { command, .. } if command == super::GUARDED)
        && !super::first_offer(&guarded_ask(req))
    {
        r = Reply::Text("done: the guarded call was not run".into());
    }
    if req["stream"] != true {
        let text = match r {
            Reply::Text(t) => t,
            Reply::Tool { before, .. } | Reply::Town { before, .. } => before,
        };
        let m = json!({"id": "msg_s", "type": "message", "role": "assistant", "model": req["model"], "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 11, "output_tokens": 5}});
        return Response("200 OK", "application/json", m.to_string());
    }
    let text_block = |t: &str| {
        (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": t}),
        )
    };
    let (blocks, stop) = match &r {
        Reply::Text(t) => (vec![text_block(t)], "end_turn"),
        Reply::Tool { before, command } => {
            let input = json!({"command": command, "description": "commit a file"}).to_string();
            let tool = (
                json!({"type": "tool_use", "id": "toolu_standin", "name": "Bash", "input": {}}),
                json!({"type": "input_json_delta", "partial_json": input}),
            );
            (vec![text_block(before), tool], "tool_use")
        }
        Reply::Town {
            before,
            tool,
            input,
        } => {
            let name = super::offered(req, tool);
            // Each call its own id: claude drops a result whose id it has seen before.
            let id = format!("toolu_town_{}", super::next_id());
            let tool = (
                json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                json!({"type": "input_json_delta", "partial_json": input.to_string()}),
            );
            (vec![text_block(before), tool], "tool_use")
        }
    };
    let start = json!({"type": "message_start", "message": {"id": "msg_s", "type": "message", "role": "assistant", "model": "stand-in", "content": [],
        "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 11, "output_tokens": 1}}});
    let mut events = vec![(Some("message_start"), start)];
    for (i, (block, delta)) in blocks.into_iter().enumerate() {
        events.push((
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": i, "content_block": block}),
        ));
        events.push((
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": i, "delta": delta}),
        ));
        events.push((
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": i}),
        ));
    }
    events.push((Some("message_delta"), json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 5}})));
    events.push((Some("message_stop"), json!({"type": "message_stop"})));
    Response("200 OK", "text/event-stream", sse(events))
}

/// The newest user message that asks for the guarded call (claude may add "(no content)"
/// after a denied one).
fn guarded_ask(req: &Value) -> String {
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    let asks = messages
        .iter()
        .rev()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].to_string());
    asks.into_iter()
        .find(|c| c.contains(super::ASK_GUARDED))
        .unwrap_or_default()
}

/// From the newest user message back (claude adds system messages after it).
fn next(req: &Value) -> Reply {
    let messages = req["messages"].as_array().cloned().unwrap_or_default();
    let blocks = |m: &Value| match &m["content"] {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(a) => a.clone(),
        _ => vec![],
    };
    // A town tool's result not answered yet comes first: claude resumes a session with
    // every earlier result and the new prompt merged into one message, in no order to go by.
    static ANSWERED: std::sync::Mutex<Vec<Value>> = std::sync::Mutex::new(Vec::new());
    let town = |b: &Value| {
        b["type"] == "tool_result"
            && b["tool_use_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("toolu_town_"))
    };
    let mut answered = ANSWERED.lock().expect("lock");
    let fresh = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .flat_map(&blocks)
        .find(|b| town(b) && !answered.contains(&b["tool_use_id"]));
    if let Some(r) = fresh {
        answered.push(r["tool_use_id"].clone());
        return reply(
            Api::Anthropic,
            Some(r["content"].to_string()),
            None,
            messages.len(),
        );
    }
    // Else the newest block that says something decides (claude may add its own reminders
    // (`<…>`) or "(no content)" after it).
    for m in messages.iter().rev().filter(|m| m["role"] == "user") {
        for b in blocks(m).iter().rev().filter(|b| !town(b)) {
            if b["type"] == "tool_result" {
                let output = match &b["content"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                return reply(Api::Anthropic, Some(output), None, messages.len());
            }
            if let Some(t) = b["text"].as_str().and_then(|t| typed(&[t])) {
                return reply(Api::Anthropic, None, Some(t), messages.len());
            }
        }
    }
    reply(Api::Anthropic, None, None, messages.len())
}
