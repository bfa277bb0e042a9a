//! Readers on each CLI's documented output format, on broken lines, and on a command's
//! plain lines.

use super::*;

#[test]
fn claude_stream_json() {
    let out = r#"{"type":"system","subtype":"init","session_id":"5b9a","tools":["Bash"],"model":"claude-sonnet-4-5"}
{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Let me look."},{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls -la"}}]},"session_id":"5b9a"}
{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":"total 0"}]},"session_id":"5b9a"}
{"type":"assistant","message":{"id":"m2","content":[{"type":"text","text":"The directory is empty."}]},"session_id":"5b9a"}
{"type":"result","subtype":"success","is_error":false,"result":"The directory is empty.","session_id":"5b9a","total_cost_usd":0.0123,"usage":{"input_tokens":120,"output_tokens":45}}"#;
    assert_eq!(
        events(AgentKind::Claude, out),
        [
            Session { id: "5b9a".into() },
            Text {
                text: "Let me look.".into()
            },
            Tool {
                summary: "Bash: ls -la".into()
            },
            Text {
                text: "\n\nThe directory is empty.".into()
            },
            Session { id: "5b9a".into() },
            Final {
                text: "The directory is empty.".into()
            },
            Usage {
                input_tokens: 120,
                output_tokens: 45,
                cost_usd: Some(0.0123)
            },
        ]
    );
}

#[test]
fn claude_error_results_are_turn_errors() {
    let e = events(
        AgentKind::Claude,
        r#"{"type":"result","subtype":"error_max_turns","is_error":true,"session_id":"x"}"#,
    );
    assert!(
        matches!(&e[1], Error { message } if message.contains("error_max_turns")),
        "{e:?}"
    );
}

#[test]
fn codex_exec_json() {
    let out = r#"{"type":"thread.started","thread_id":"0199a213-81c0-7800-8aa1-bbab2a035a53"}
{"type":"turn.started"}
{"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"**Scanning**"}}
{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"bash -lc ls","aggregated_output":"a\n","exit_code":0,"status":"completed"}}
{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"Done."}}
{"type":"turn.completed","usage":{"input_tokens":24763,"cached_input_tokens":24448,"output_tokens":122}}"#;
    assert_eq!(
        events(AgentKind::Codex, out),
        [
            Session {
                id: "0199a213-81c0-7800-8aa1-bbab2a035a53".into()
            },
            Tool {
                summary: "shell: ls".into()
            },
            Text {
                text: "Done.".into()
            },
            Usage {
                input_tokens: 24763,
                output_tokens: 122,
                cost_usd: None
            },
        ]
    );
    let failed = events(
        AgentKind::Codex,
        r#"{"type":"turn.failed","error":{"message":"stream disconnected"}}"#,
    );
    assert_eq!(
        failed,
        [Error {
            message: "codex: stream disconnected".into()
        }]
    );
}

#[test]
fn gemini_stream_json() {
    let out = r#"{"type":"init","timestamp":"2025-10-10T12:00:00.000Z","session_id":"abc123","model":"gemini-2.5-flash"}
{"type":"message","role":"user","content":"hi"}
{"type":"tool_use","tool_name":"read_file","tool_id":"t1","parameters":{"file_path":"notes.md"}}
{"type":"tool_result","tool_id":"t1","status":"success","output":"notes"}
{"type":"message","role":"assistant","content":"Hello","delta":true}
{"type":"message","role":"assistant","content":" there.","delta":true}
{"type":"result","status":"success","stats":{"total_tokens":250,"input_tokens":200,"output_tokens":50,"duration_ms":3000}}"#;
    assert_eq!(
        events(AgentKind::Gemini, out),
        [
            Session {
                id: "abc123".into()
            },
            Tool {
                summary: "read_file: notes.md".into()
            },
            Text {
                text: "Hello".into()
            },
            Text {
                text: " there.".into()
            },
            Usage {
                input_tokens: 200,
                output_tokens: 50,
                cost_usd: None
            },
        ]
    );
}

#[test]
fn unknown_truncated_and_malformed_lines_are_skipped_never_errors_or_panics() {
    for kind in [AgentKind::Claude, AgentKind::Codex, AgentKind::Gemini] {
        let broken = [
            r#"{"type":"assistant","message":{"content":[{"type":"te"#,
            "not json at all",
            "[1,2]",
            r#"{"no":"type"}"#,
            "\u{0}\u{ffff}",
        ];
        for line in broken {
            assert_eq!(Reader::new(kind).line(line), [], "{kind:?} {line:?}");
        }
        // Valid JSON of an unknown type or unexpected shape: skipped too.
        for line in [
            r#"{"type":"a.new.event","x":1}"#,
            r#"{"type":"assistant","message":{"content":"oops"}}"#,
            r#"{"type":"result","usage":5}"#,
            r#"{"type":"item.completed"}"#,
        ] {
            let e = Reader::new(kind).line(line);
            assert!(
                !e.iter().any(|x| matches!(x, Error { .. })),
                "{kind:?} {line:?}: {e:?}"
            );
        }
        // A turn that printed only what could not be read says so once, as a notice.
        let e = events(kind, &broken.join("\n"));
        assert!(
            matches!(&e[..], [Notice { text }] if text.contains("5 line(s)")),
            "{kind:?}: {e:?}"
        );
    }
}

#[test]
fn tools_the_model_asks_for_are_shown_only_once_run() {
    let mut r = Reader::new(AgentKind::Gemini);
    let asked = r#"{"type":"tool_use","tool_name":"run_shell_command","tool_id":"t1","parameters":{"command":"ls"}}"#;
    assert_eq!(r.line(asked), []);
    // A flood of calls that never finish is not all remembered.
    for i in 0..10_000 {
        r.line(&asked.replace("\"t1\"", &format!("\"x{i}\"")));
    }
    assert!(r.pending.len() <= MAX_PENDING_TOOLS);
    assert_eq!(
        r.line(r#"{"type":"tool_result","tool_id":"t1","status":"success"}"#),
        [Tool {
            summary: "run_shell_command: ls".into()
        }]
    );
    assert_eq!(
        r.line(r#"{"type":"tool_result","tool_id":"t1","status":"success"}"#),
        [],
        "shown once"
    );
}

#[test]
fn command_lines_are_text() {
    assert_eq!(
        Reader::new(AgentKind::Command).line("{not json}"),
        [Text {
            text: "{not json}\n".into()
        }]
    );
}
