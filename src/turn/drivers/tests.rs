//! Readers on each CLI's output: real recorded lines (recorded/), the documented format,
//! and broken lines.

use super::*;
use crate::config::{Agent, AgentKind};
use TurnEvent::*;

fn events(kind: AgentKind, out: &str) -> Vec<TurnEvent> {
    let mut r = Reader::new(kind);
    let mut e: Vec<TurnEvent> = out.lines().flat_map(|l| r.line(l)).collect();
    e.extend(r.finish());
    e
}

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

fn agent(kind: AgentKind, argv: &[&str]) -> Agent {
    Agent {
        kind,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        workspace: "work".into(),
        environment: Default::default(),
        environment_files: vec![],
        defaults: true,
        base_url: None,
        approve: vec![],
        approve_timeout: crate::config::DEFAULT_APPROVE_TIMEOUT,
    }
}

fn argv(a: &Agent, session: Option<&str>) -> Vec<String> {
    invocation(a, "p", session, std::path::Path::new("/agents/ada")).argv
}

#[test]
fn invocations_resume_sessions_and_keep_prompts_off_the_command_line() {
    let c = invocation(
        &agent(
            AgentKind::Claude,
            &["claude", "--dangerously-skip-permissions"],
        ),
        "fix it",
        Some("5b9a"),
        std::path::Path::new("/h"),
    );
    assert_eq!(
        c.argv,
        [
            "claude",
            "--dangerously-skip-permissions",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--resume",
            "5b9a"
        ]
    );
    assert_eq!(c.stdin, "fix it");
    let x = argv(&agent(AgentKind::Codex, &["codex"]), Some("t1"));
    assert_eq!(
        x,
        [
            "codex",
            "exec",
            "--json",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "resume",
            "t1",
            "-"
        ]
    );
    let g = argv(&agent(AgentKind::Gemini, &["gemini"]), None);
    assert_eq!(g, ["gemini", "--output-format", "stream-json", "--yolo"]);
    let cmd = argv(
        &agent(AgentKind::Command, &["/bin/standin", "-v"]),
        Some("ignored"),
    );
    assert_eq!(cmd, ["/bin/standin", "-v"]);
}

#[test]
fn kind_defaults_yield_to_the_argv_and_can_be_turned_off() {
    // The resident is the sandbox: each CLI's own is off, unless the argv picks a mode.
    assert_eq!(
        argv(&agent(AgentKind::Claude, &["claude"]), None)[1],
        "--dangerously-skip-permissions"
    );
    assert!(
        !argv(
            &agent(AgentKind::Claude, &["claude", "--permission-mode", "plan"]),
            None
        )
        .contains(&"--dangerously-skip-permissions".to_string())
    );
    let x = argv(
        &agent(AgentKind::Codex, &["codex", "-s", "workspace-write"]),
        None,
    );
    assert!(!x.iter().any(|a| a.starts_with("--dangerously")), "{x:?}");
    assert!(
        !argv(
            &agent(AgentKind::Gemini, &["gemini", "--approval-mode=auto_edit"]),
            None
        )
        .contains(&"--yolo".to_string())
    );
    // gemini: trusted workspace, its settings, and the home's git config through its shell.
    let g = invocation(
        &agent(AgentKind::Gemini, &["gemini"]),
        "p",
        None,
        std::path::Path::new("/agents/vox"),
    );
    let env: std::collections::BTreeMap<_, _> = g.environment.into_iter().collect();
    assert_eq!(env["GEMINI_CLI_TRUST_WORKSPACE"], "true");
    assert_eq!(
        env["GEMINI_CLI_SYSTEM_DEFAULTS_PATH"],
        "/srv/townhall/gemini-defaults.json"
    );
    assert_eq!(
        (
            env["GIT_CONFIG_KEY_0"].as_str(),
            env["GIT_CONFIG_VALUE_0"].as_str()
        ),
        ("include.path", "/agents/vox/.gitconfig")
    );
    let off = Agent {
        defaults: false,
        ..agent(AgentKind::Gemini, &["gemini"])
    };
    let g = invocation(&off, "p", None, std::path::Path::new("/h"));
    assert_eq!(
        (g.argv, g.environment),
        (
            vec![
                "gemini".to_string(),
                "--output-format".into(),
                "stream-json".into()
            ],
            vec![]
        )
    );
    // A base URL: codex gets a provider of its own, the others their variable.
    let url = |kind, argv: &[&str]| Agent {
        base_url: Some("http://127.0.0.1:9/v1".into()),
        ..agent(kind, argv)
    };
    let x = argv(&url(AgentKind::Codex, &["codex"]), None);
    assert!(
        x.contains(&"model_providers.townhall.base_url=\"http://127.0.0.1:9/v1\"".to_string())
            && x.iter().position(|a| a == "exec") > x.iter().position(|a| a == "-c"),
        "{x:?}"
    );
    let c = invocation(
        &url(AgentKind::Claude, &["claude"]),
        "p",
        None,
        std::path::Path::new("/h"),
    );
    assert_eq!(
        c.environment,
        [(
            "ANTHROPIC_BASE_URL".to_string(),
            "http://127.0.0.1:9/v1".to_string()
        )]
    );
}

/// A real CLI's recorded first and resumed turns, parsed: no line may be an error.
fn recorded(kind: AgentKind, first: &str, resumed: &str) -> [Vec<TurnEvent>; 2] {
    [("first", first), ("resumed", resumed)].map(|(name, lines)| {
        let e = events(kind, lines);
        assert!(
            !e.iter().any(|x| matches!(x, Error { .. })),
            "{kind:?} {name}: {e:?}"
        );
        e
    })
}

/// Lines the real claude 2.1.332 printed against the town's Anthropic stand-in (a first
/// turn, then one resumed on its session): every line is read, none is an error.
#[test]
fn claude_2_1_332_recorded() {
    let [first, resumed] = recorded(
        AgentKind::Claude,
        include_str!("recorded/claude-2.1.332-first.jsonl"),
        include_str!("recorded/claude-2.1.332-resumed.jsonl"),
    );
    let sid = "b8bab62b-";
    assert!(
        matches!(&first[0], Session { id } if id.starts_with(sid)),
        "{first:?}"
    );
    assert!(
        first.contains(&Text {
            text: "hello from the stand-in".into()
        }),
        "{first:?}"
    );
    assert!(first.iter().any(|e| matches!(e, Usage { input_tokens: 11, output_tokens: 5, cost_usd: Some(c) } if *c > 0.0)), "{first:?}");
    assert!(
        matches!(&resumed[0], Session { id } if id.starts_with(sid)),
        "the resumed turn keeps the session: {resumed:?}"
    );
}

/// Lines the real codex 0.171.0 printed against a Responses stand-in, a first turn and
/// one resumed on its thread. Its "model metadata not found" item is a warning, not shown.
/// (Its resumed `turn.completed` usage is the thread's running total: the desk makes it
/// per turn, see turn/tests.rs.)
#[test]
fn codex_0_171_0_recorded() {
    for e in recorded(
        AgentKind::Codex,
        include_str!("recorded/codex-0.171.0-first.jsonl"),
        include_str!("recorded/codex-0.171.0-resumed.jsonl"),
    ) {
        assert_eq!(
            e[0],
            Session {
                id: "01a23414-c2e5-7113-8fc2-3c0e9d5297a1".into()
            },
            "{e:?}"
        );
        assert!(e.iter().any(|x| matches!(x, Text { text } if text.starts_with("hello from the responses stand-in"))), "{e:?}");
    }
}

/// Lines the real gemini-cli 0.61.0 printed against a Gemini stand-in, a first turn and
/// one resumed on its session. It echoes the user's prompt as a `message`: not answer text.
#[test]
fn gemini_0_61_0_recorded() {
    for e in recorded(
        AgentKind::Gemini,
        include_str!("recorded/gemini-0.61.0-first.jsonl"),
        include_str!("recorded/gemini-0.61.0-resumed.jsonl"),
    ) {
        assert_eq!(
            e[0],
            Session {
                id: "98d8bde6-16e4-4756-ab86-e9c779934f3d".into()
            },
            "{e:?}"
        );
        let text: String = e
            .iter()
            .filter_map(|x| {
                if let Text { text } = x {
                    Some(text.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert!(
            text.starts_with("hello from the gemini stand-in"),
            "only the answer is text: {e:?}"
        );
        assert!(
            e.iter().any(|x| matches!(
                x,
                Usage {
                    input_tokens: 33,
                    output_tokens: 7,
                    ..
                }
            )),
            "{e:?}"
        );
    }
}

fn texts(e: &[TurnEvent]) -> String {
    e.iter()
        .filter_map(|x| {
            if let Text { text } = x {
                Some(text.as_str())
            } else {
                None
            }
        })
        .collect()
}

fn tools(e: &[TurnEvent]) -> Vec<&str> {
    e.iter()
        .filter_map(|x| {
            if let Tool { summary } = x {
                Some(summary.as_str())
            } else {
                None
            }
        })
        .collect()
}

const COMMIT: &str = "mkdir -p {cli}-proof && cd {cli}-proof && git init -q && echo proof > f && git add f && git commit -q -m 'from {cli}' && git log -1 --format=commi";

/// Each real CLI running the shell tool a stand-in asked for: the tool is shown once it
/// ran, and the text before it and the text after are two paragraphs.
#[test]
fn recorded_tool_turns() {
    for (kind, cli, lines, tool, after) in [
        (
            AgentKind::Claude,
            "claude",
            include_str!("recorded/claude-2.1.332-tool.jsonl"),
            "Bash",
            "done: committed-9e83a42",
        ),
        (
            AgentKind::Codex,
            "codex",
            include_str!("recorded/codex-0.171.0-tool.jsonl"),
            "shell",
            "done: Chunk ID",
        ),
        (
            AgentKind::Gemini,
            "gemini",
            include_str!("recorded/gemini-0.61.0-tool.jsonl"),
            "run_shell_command",
            "done: {",
        ),
    ] {
        let e = events(kind, lines);
        assert!(
            !e.iter().any(|x| matches!(x, Error { .. } | Notice { .. })),
            "{kind:?}: {e:?}"
        );
        let shown = tools(&e);
        assert!(
            matches!(&shown[..], [t] if t.starts_with(&format!("{tool}: {}", COMMIT.replace("{cli}", cli))[..80.min(t.len())])),
            "{kind:?}: {shown:?}"
        );
        let text = texts(&e);
        assert!(
            text.starts_with(&format!("I will commit.\n\n{after}")),
            "{kind:?}: {text:?}"
        );
    }
}

/// A tool the CLI did not run (claude without permission, gemini without --yolo) is a
/// notice, not a tool shown as run.
#[test]
fn recorded_refused_tools() {
    for (kind, lines, why) in [
        (
            AgentKind::Claude,
            include_str!("recorded/claude-2.1.332-tool-refused.jsonl"),
            "changes directory before running a version-control command",
        ),
        (
            AgentKind::Gemini,
            include_str!("recorded/gemini-0.61.0-tool-refused.jsonl"),
            "Tool \"run_shell_command\" not found",
        ),
    ] {
        let e = events(kind, lines);
        assert_eq!(tools(&e), Vec::<&str>::new(), "{kind:?}: {e:?}");
        let notes: Vec<_> = e
            .iter()
            .filter_map(|x| {
                if let Notice { text } = x {
                    Some(text)
                } else {
                    None
                }
            })
            .collect();
        assert!(
            matches!(&notes[..], [n] if n.starts_with("not run: ") && n.contains(why)),
            "{kind:?}: {notes:?}"
        );
    }
}

/// codex's "Reconnecting… n/5" while its stream drops: the turn goes on, no error shown.
#[test]
fn codex_0_171_0_reconnects_are_not_errors() {
    let e = events(
        AgentKind::Codex,
        include_str!("recorded/codex-0.171.0-reconnect.jsonl"),
    );
    assert!(
        !e.iter().any(|x| matches!(x, Error { .. } | Notice { .. })),
        "{e:?}"
    );
    assert_eq!(texts(&e), "hello (7 items)");
}

#[test]
fn routine_stderr_and_lost_sessions_are_known_per_kind() {
    assert!(stderr_noise(
        AgentKind::Gemini,
        "YOLO mode is enabled. All tool calls will be automatically approved."
    ));
    assert!(!stderr_noise(
        AgentKind::Gemini,
        "Error when talking to Gemini API"
    ));
    let lines = |s: &str| s.lines().map(String::from).collect::<Vec<_>>();
    assert!(lost_session(
        AgentKind::Codex,
        1,
        &lines(include_str!("recorded/codex-0.171.0-lost-session.stderr")),
        &[]
    ));
    assert!(lost_session(
        AgentKind::Gemini,
        42,
        &lines(include_str!("recorded/gemini-0.61.0-lost-session.stderr")),
        &[]
    ));
    assert!(lost_session(
        AgentKind::Claude,
        1,
        &lines(include_str!("recorded/claude-2.1.332-lost-session.stderr")),
        &[]
    ));
    assert!(lost_session(
        AgentKind::Gemini,
        42,
        &lines("Error resuming session: No previous sessions found for this project."),
        &[]
    ));
    assert!(!lost_session(
        AgentKind::Gemini,
        41,
        &lines("Invalid auth method selected."),
        &[]
    ));
}

#[test]
fn at_a_terminal_each_kind_resumes_its_session_interactively() {
    let home = std::path::Path::new("/agents/ada");
    let at = |kind, argv: &[&str]| interactive(&agent(kind, argv), Some("s1"), home).argv;
    assert_eq!(
        at(AgentKind::Claude, &["claude"]),
        ["claude", "--dangerously-skip-permissions", "--resume", "s1"]
    );
    assert_eq!(
        at(AgentKind::Codex, &["codex"]),
        [
            "codex",
            "resume",
            "s1",
            "--dangerously-bypass-approvals-and-sandbox"
        ]
    );
    assert_eq!(
        at(AgentKind::Gemini, &["gemini"]),
        ["gemini", "--yolo", "--resume", "s1"]
    );
    let fresh = interactive(&agent(AgentKind::Gemini, &["gemini"]), None, home);
    assert_eq!(fresh.argv, ["gemini", "--yolo"]);
    assert!(
        fresh
            .environment
            .iter()
            .any(|(k, _)| k == "GEMINI_CLI_TRUST_WORKSPACE"),
        "the same defaults as a turn"
    );
}
