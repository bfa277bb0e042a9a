//! The watch over event sequences, one table row each: what reaches the room during the
//! run and at its end, whether the session was lost, and what is kept and counted.

use super::*;

fn text(t: &str) -> TurnEvent {
    TurnEvent::Text { text: t.into() }
}

fn error(m: &str) -> TurnEvent {
    TurnEvent::Error { message: m.into() }
}

fn session_event(id: &str) -> TurnEvent {
    TurnEvent::Session { id: id.into() }
}

fn usage(input: u64, output: u64, cost: Option<f64>) -> TurnEvent {
    TurnEvent::Usage {
        input_tokens: input,
        output_tokens: output,
        cost_usd: cost,
    }
}

fn resumed(id: &str, tokens: [u64; 2]) -> Session {
    Session {
        id: id.into(),
        kind: None,
        tokens,
        at: 0,
    }
}

struct Row {
    name: &'static str,
    kind: AgentKind,
    resumed: Option<Session>,
    events: Vec<TurnEvent>,
    /// The run's exit status and stderr.
    end: (i32, Vec<String>),
    /// What reached the room during the run, then at its end.
    during: Vec<TurnEvent>,
    released: Vec<TurnEvent>,
    lost: bool,
    /// The session kept: its id and token totals.
    kept: Option<(&'static str, [u64; 2])>,
    spent: [u64; 2],
}

fn rows() -> Vec<Row> {
    // What claude says of a session it does not have (drivers/claude.rs).
    let claude_lost = "No conversation found with session ID: abc".to_string();
    vec![
        Row {
            name: "a fresh run passes everything at once and keeps its session",
            kind: AgentKind::Claude,
            resumed: None,
            events: vec![session_event("s1"), text("hi"), usage(10, 5, Some(0.01))],
            end: (0, vec![]),
            during: vec![session_event("s1"), text("hi"), usage(10, 5, Some(0.01))],
            released: vec![],
            lost: false,
            kept: Some(("s1", [0, 0])),
            spent: [10, 5],
        },
        Row {
            name: "a resume holds errors and usage until text shows the session was there",
            kind: AgentKind::Claude,
            resumed: Some(resumed("s1", [0, 0])),
            events: vec![error("warming up"), usage(1, 1, None), text("hi")],
            end: (0, vec![]),
            during: vec![error("warming up"), usage(1, 1, None), text("hi")],
            released: vec![],
            lost: false,
            kept: None,
            spent: [1, 1],
        },
        Row {
            name: "a resume of a session that is gone says nothing of it and asks for a retry",
            kind: AgentKind::Claude,
            resumed: Some(resumed("s1", [0, 0])),
            events: vec![error(&claude_lost)],
            end: (1, vec![]),
            during: vec![],
            released: vec![],
            lost: true,
            kept: None,
            spent: [0, 0],
        },
        Row {
            name: "claude saying the session is gone on stderr, exiting 0, is lost too",
            kind: AgentKind::Claude,
            resumed: Some(resumed("s1", [0, 0])),
            events: vec![session_event("s2")],
            end: (0, vec![claude_lost.clone()]),
            during: vec![],
            released: vec![],
            lost: true,
            kept: None,
            spent: [0, 0],
        },
        Row {
            name: "a resume that only failed for another reason releases its errors at the end",
            kind: AgentKind::Claude,
            resumed: Some(resumed("s1", [0, 0])),
            events: vec![error("rate limited")],
            end: (1, vec![]),
            during: vec![],
            released: vec![error("rate limited")],
            lost: false,
            kept: None,
            spent: [0, 0],
        },
        Row {
            name: "codex reports running totals: the turn's share is the growth",
            kind: AgentKind::Codex,
            resumed: Some(resumed("t1", [100, 40])),
            events: vec![text("ok"), session_event("t1"), usage(130, 50, None)],
            end: (0, vec![]),
            during: vec![text("ok"), session_event("t1"), usage(30, 10, None)],
            released: vec![],
            lost: false,
            kept: Some(("t1", [130, 50])),
            spent: [30, 10],
        },
        Row {
            name: "a different session than the one resumed starts its totals from nothing",
            kind: AgentKind::Codex,
            resumed: Some(resumed("t1", [100, 40])),
            events: vec![text("ok"), session_event("t2"), usage(5, 5, None)],
            end: (0, vec![]),
            during: vec![text("ok"), session_event("t2"), usage(0, 0, None)],
            released: vec![],
            lost: false,
            kept: Some(("t2", [0, 0])),
            spent: [0, 0],
        },
        Row {
            name: "a session id the CLI made up is refused, in words, and not kept",
            kind: AgentKind::Claude,
            resumed: None,
            events: vec![session_event("../../etc/passwd")],
            end: (0, vec![]),
            during: vec![error(
                "ignored a session id that is not 1-128 of [A-Za-z0-9._-]: \"../../etc/passwd…\"",
            )],
            released: vec![],
            lost: false,
            kept: None,
            spent: [0, 0],
        },
    ]
}

#[test]
fn event_sequences() {
    for row in rows() {
        let mut w = Watch::new(row.kind, row.resumed.as_ref());
        let during: Vec<TurnEvent> = row.events.into_iter().flat_map(|e| w.event(e)).collect();
        assert_eq!(during, row.during, "{}: during the run", row.name);
        let watched = w.end(row.end.0, &row.end.1, 7);
        assert_eq!(watched.release, row.released, "{}: at the end", row.name);
        assert_eq!(watched.lost_session, row.lost, "{}: lost", row.name);
        let kept = watched.session.as_ref().map(|s| (s.id.as_str(), s.tokens));
        assert_eq!(kept, row.kept, "{}: kept", row.name);
        let spent = [watched.spent.input_tokens, watched.spent.output_tokens];
        assert_eq!(spent, row.spent, "{}: spent", row.name);
    }
}
