//! Readers on the lines real CLIs printed (recorded/): first and resumed turns, tools run
//! and refused, reconnects, and the stderr of a routine run or a lost session.

use super::*;

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
        include_str!("../recorded/claude-2.1.332-first.jsonl"),
        include_str!("../recorded/claude-2.1.332-resumed.jsonl"),
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
        include_str!("../recorded/codex-0.171.0-first.jsonl"),
        include_str!("../recorded/codex-0.171.0-resumed.jsonl"),
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
        include_str!("../recorded/gemini-0.61.0-first.jsonl"),
        include_str!("../recorded/gemini-0.61.0-resumed.jsonl"),
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
            include_str!("../recorded/claude-2.1.332-tool.jsonl"),
            "Bash",
            "done: committed-9e83a42",
        ),
        (
            AgentKind::Codex,
            "codex",
            include_str!("../recorded/codex-0.171.0-tool.jsonl"),
            "shell",
            "done: Chunk ID",
        ),
        (
            AgentKind::Gemini,
            "gemini",
            include_str!("../recorded/gemini-0.61.0-tool.jsonl"),
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
            include_str!("../recorded/claude-2.1.332-tool-refused.jsonl"),
            "changes directory before running a version-control command",
        ),
        (
            AgentKind::Gemini,
            include_str!("../recorded/gemini-0.61.0-tool-refused.jsonl"),
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
        include_str!("../recorded/codex-0.171.0-reconnect.jsonl"),
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
        &lines(include_str!(
            "../recorded/codex-0.171.0-lost-session.stderr"
        )),
        &[]
    ));
    assert!(lost_session(
        AgentKind::Gemini,
        42,
        &lines(include_str!(
            "../recorded/gemini-0.61.0-lost-session.stderr"
        )),
        &[]
    ));
    assert!(lost_session(
        AgentKind::Claude,
        1,
        &lines(include_str!(
            "../recorded/claude-2.1.332-lost-session.stderr"
        )),
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
