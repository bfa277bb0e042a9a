//! OpenAI Responses, streamed, as codex uses it (its shell tool is `exec_command`).

use serde_json::{Value, json};

use super::{Api, Reply, Response, reply, sse, typed};

pub fn respond(path: &str, req: &Value) -> Response {
    if path.ends_with("/models") || path.contains("/models?") {
        return Response(
            "200 OK",
            "application/json",
            json!({"models": []}).to_string(),
        );
    }
    if !path.ends_with("/responses") {
        return Response("404 Not Found", "application/json", "{}".into());
    }
    let message = |id: &str, t: &str| json!({"type": "message", "id": id, "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": t, "annotations": []}]});
    let items = match next(req) {
        Reply::Text(t) => vec![message("msg_a", &t)],
        Reply::Tool { before, command } => vec![
            message("msg_b", &before),
            json!({"type": "function_call", "id": "fc_1", "call_id": "call_standin", "name": "exec_command", "arguments": json!({"cmd": command}).to_string(), "status": "completed"}),
        ],
        Reply::Town {
            before,
            tool,
            input,
        } => vec![message("msg_b", &before), town_call(req, tool, &input)],
    };
    let response = json!({"id": "resp_s", "object": "response", "status": "in_progress", "model": req["model"], "output": []});
    let mut events = vec![(
        Some("response.created"),
        json!({"type": "response.created", "response": response}),
    )];
    for (i, item) in items.iter().enumerate() {
        events.push((
            Some("response.output_item.added"),
            json!({"type": "response.output_item.added", "output_index": i, "item": item}),
        ));
        events.push((
            Some("response.output_item.done"),
            json!({"type": "response.output_item.done", "output_index": i, "item": item}),
        ));
    }
    let mut done = response.clone();
    done["status"] = json!("completed");
    done["output"] = json!(items);
    done["usage"] = json!({"input_tokens": 111, "output_tokens": 22, "total_tokens": 133, "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}});
    events.push((
        Some("response.completed"),
        json!({"type": "response.completed", "response": done}),
    ));
    Response("200 OK", "text/event-stream", sse(events))
}

/// A call of the town's tool `tool`: codex 0.171 offers MCP tools as a deferred namespace
/// ("Deferred tool namespaces: - mcp__town: …"), called by name within the namespace.
fn town_call(req: &Value, tool: &str, input: &Value) -> Value {
    let id = format!("call_town_{}", super::next_id());
    let mut call = json!({"type": "function_call", "id": "fc_2", "call_id": id, "arguments": input.to_string(), "status": "completed"});
    let offered = super::offered(req, tool);
    if offered.starts_with("no-tool-named") && req.to_string().contains("- mcp__town:") {
        call["name"] = json!(tool);
        call["namespace"] = json!("mcp__town");
    } else {
        call["name"] = json!(offered);
    }
    call
}

fn next(req: &Value) -> Reply {
    let input = req["input"].as_array().cloned().unwrap_or_default();
    for item in input.iter().rev() {
        if item["type"] == "function_call_output" {
            let out = item["output"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| item["output"].to_string());
            return reply(Api::OpenAi, Some(out), None, input.len());
        }
        if item["type"] == "message" && item["role"] == "user" {
            let texts: Vec<&str> = item["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["text"].as_str())
                .collect();
            if let Some(t) = typed(&texts) {
                return reply(Api::OpenAi, None, Some(t), input.len());
            }
        }
    }
    reply(Api::OpenAi, None, None, input.len())
}
