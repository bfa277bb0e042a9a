//! Gemini's generateContent: streamed (`:streamGenerateContent?alt=sse`) for turns, and the
//! JSON answers gemini's model router asks for first (`responseJsonSchema`).

use serde_json::{Map, Value, json};

use super::{Api, Reply, Response, reply, sse, typed};

pub fn respond(path: &str, req: &Value) -> Response {
    if path.contains(":countTokens") {
        return Response(
            "200 OK",
            "application/json",
            json!({"totalTokens": 5}).to_string(),
        );
    }
    let usage = json!({"promptTokenCount": 33, "candidatesTokenCount": 7, "totalTokenCount": 40});
    let chunk = |parts: Value| json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}], "usageMetadata": usage, "modelVersion": "stand-in"});
    // The router's question: an object of the asked-for shape (a low complexity score).
    if let Some(schema) = req.pointer("/generationConfig/responseJsonSchema") {
        let fields: Map<String, Value> = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, p)| {
                (
                    k.clone(),
                    if p["type"] == "INTEGER" || p["type"] == "NUMBER" {
                        json!(10)
                    } else {
                        json!("stand-in")
                    },
                )
            })
            .collect();
        return Response(
            "200 OK",
            "application/json",
            chunk(json!([{"text": Value::Object(fields).to_string()}])).to_string(),
        );
    }
    let parts = match next(req) {
        Reply::Text(t) => json!([{"text": t}]),
        Reply::Tool { before, command } => {
            json!([{"text": before}, {"functionCall": {"name": "run_shell_command", "args": {"command": command, "description": "commit a file"}}}])
        }
        Reply::Town {
            before,
            tool,
            input,
        } => {
            json!([{"text": before}, {"functionCall": {"name": super::offered(req, tool), "args": input}}])
        }
    };
    if path.contains(":streamGenerateContent") {
        Response("200 OK", "text/event-stream", sse([(None, chunk(parts))]))
    } else if path.contains(":generateContent") {
        Response("200 OK", "application/json", chunk(parts).to_string())
    } else {
        Response("404 Not Found", "application/json", "{}".into())
    }
}

fn next(req: &Value) -> Reply {
    let contents = req["contents"].as_array().cloned().unwrap_or_default();
    for c in contents.iter().rev().filter(|c| c["role"] == "user") {
        let parts = c["parts"].as_array().cloned().unwrap_or_default();
        if let Some(r) = parts.iter().find_map(|p| p.get("functionResponse")) {
            return reply(
                Api::Gemini,
                Some(r["response"].to_string()),
                None,
                contents.len(),
            );
        }
        let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        if let Some(t) = typed(&texts) {
            return reply(Api::Gemini, None, Some(t), contents.len());
        }
    }
    reply(Api::Gemini, None, None, contents.len())
}
