//! The desk on recorded real CLI output, through the fake user manager: usage per turn,
//! sessions that are gone or belong to another kind.

use tokio::sync::mpsc;

use super::{Desk, TurnEvent};
use crate::config::{AgentKind, Town};
use crate::public::FakePublic;
use crate::turn::sessions::Session;
use crate::units::{FakeRun, FakeUserManagers, UnitEnd};

fn town(kind: AgentKind) -> (tempfile::TempDir, Town) {
    let dir = tempfile::tempdir().unwrap();
    let mut town = crate::testing::demo_town();
    town.state = dir.path().to_path_buf();
    town.residents
        .iter_mut()
        .find(|r| r.name == "ada")
        .unwrap()
        .agent
        .kind = kind;
    (dir, town)
}

fn run(stdout: &str, stderr: &str, status: i32) -> FakeRun {
    let result = if status == 0 { "success" } else { "exit-code" };
    FakeRun {
        stdout: stdout.into(),
        stderr: stderr.into(),
        end: UnitEnd {
            result: result.into(),
            status,
        },
    }
}

/// One turn of ada's in conversation `c`: its events and whether it succeeded.
async fn turn(desk: &Desk<FakeUserManagers>, town: &Town) -> (Vec<TurnEvent>, bool) {
    let (tx, mut rx) = mpsc::channel(256);
    let outcome = desk.turn(town, "ada", "c", "hi", false, tx).await.unwrap();
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    (events, outcome.result == "success")
}

fn usage(events: &[TurnEvent]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|e| {
            if let TurnEvent::Usage {
                input_tokens,
                output_tokens,
                ..
            } = e
            {
                Some((*input_tokens, *output_tokens))
            } else {
                None
            }
        })
        .collect()
}

fn notices(events: &[TurnEvent]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| {
            if let TurnEvent::Notice { text } = e {
                Some(text.as_str())
            } else {
                None
            }
        })
        .collect()
}

#[tokio::test]
async fn codex_usage_is_per_turn_though_it_reports_the_threads_total() {
    let (_dir, town) = town(AgentKind::Codex);
    let desk = Desk::new(
        FakeUserManagers::default(),
        Box::new(FakePublic::default()),
        std::sync::Arc::new(crate::worktree::FakeWorktrees::default()),
        &town,
    )
    .unwrap();
    desk.managers.runs.lock().unwrap().extend([
        run(
            include_str!("drivers/recorded/codex-0.171.0-tool.jsonl"),
            "",
            0,
        ),
        run(
            include_str!("drivers/recorded/codex-0.171.0-tool-resumed.jsonl"),
            "",
            0,
        ),
    ]);
    let (first, _) = turn(&desk, &town).await;
    let (second, _) = turn(&desk, &town).await;
    // Its totals were 222/44 after the first turn and 333/66 after the second.
    assert_eq!(
        (usage(&first), usage(&second)),
        (vec![(222, 44)], vec![(111, 22)])
    );
    let argv = desk.managers.calls.calls().join("\n");
    assert!(
        argv.contains("\"resume\", \"01a2343d-a036-7b92-b7a6-d4b7aeadd693\""),
        "the second turn resumed: {argv}"
    );
}

#[tokio::test]
async fn a_session_the_cli_no_longer_has_is_dropped_and_the_turn_runs_afresh() {
    let cases = [
        (
            AgentKind::Codex,
            "",
            include_str!("drivers/recorded/codex-0.171.0-lost-session.stderr"),
            1,
            include_str!("drivers/recorded/codex-0.171.0-first.jsonl"),
        ),
        (
            AgentKind::Claude,
            include_str!("drivers/recorded/claude-2.1.332-lost-session.jsonl"),
            include_str!("drivers/recorded/claude-2.1.332-lost-session.stderr"),
            0,
            include_str!("drivers/recorded/claude-2.1.332-first.jsonl"),
        ),
        (
            AgentKind::Gemini,
            "",
            include_str!("drivers/recorded/gemini-0.61.0-lost-session.stderr"),
            42,
            include_str!("drivers/recorded/gemini-0.61.0-first.jsonl"),
        ),
    ];
    // (claude was seen to exit 0 as well as 1 after saying so.)
    for (kind, out, err, status, fresh) in cases {
        let (_dir, town) = town(kind);
        let desk = Desk::new(
            FakeUserManagers::default(),
            Box::new(FakePublic::default()),
            std::sync::Arc::new(crate::worktree::FakeWorktrees::default()),
            &town,
        )
        .unwrap();
        desk.sessions
            .set(
                "ada",
                "c",
                Some(Session {
                    id: "gone-1".into(),
                    kind: Some(kind),
                    tokens: [0, 0],
                    at: 0,
                }),
            )
            .unwrap();
        desk.managers
            .runs
            .lock()
            .unwrap()
            .extend([run(out, err, status), run(fresh, "", 0)]);
        let (events, ok) = turn(&desk, &town).await;
        assert!(
            ok,
            "{kind:?}: the fresh run is the turn's outcome: {events:?}"
        );
        assert!(
            !events.iter().any(|e| matches!(e, TurnEvent::Error { .. })),
            "{kind:?}: the lost resume's errors are not shown: {events:?}"
        );
        assert!(
            notices(&events)
                .iter()
                .any(|n| n.contains("could not resume") && n.contains("gone-1")),
            "{kind:?}: {events:?}"
        );
        let runs = desk
            .managers
            .calls
            .calls()
            .into_iter()
            .filter(|c| c.starts_with("run "))
            .collect::<Vec<_>>();
        assert!(
            runs.len() == 2 && runs[0].contains("gone-1") && !runs[1].contains("gone-1"),
            "{kind:?}: {runs:?}"
        );
        assert!(
            desk.sessions
                .get("ada", "c")
                .is_some_and(|s| s.id != "gone-1"),
            "{kind:?}: the new session is kept"
        );
    }
}

#[tokio::test]
async fn a_failure_that_is_not_a_lost_session_keeps_it() {
    let (_dir, town) = town(AgentKind::Codex);
    let desk = Desk::new(
        FakeUserManagers::default(),
        Box::new(FakePublic::default()),
        std::sync::Arc::new(crate::worktree::FakeWorktrees::default()),
        &town,
    )
    .unwrap();
    desk.sessions
        .set(
            "ada",
            "c",
            Some(Session {
                id: "t1".into(),
                kind: Some(AgentKind::Codex),
                tokens: [5, 1],
                at: 0,
            }),
        )
        .unwrap();
    desk.managers.runs.lock().unwrap().push_back(run(
        r#"{"type":"turn.failed","error":{"message":"401 Unauthorized"}}"#,
        "",
        1,
    ));
    let (events, ok) = turn(&desk, &town).await;
    assert!(
        !ok && events.contains(&TurnEvent::Error {
            message: "codex: 401 Unauthorized".into()
        }),
        "{events:?}"
    );
    assert_eq!(
        desk.sessions.get("ada", "c").map(|s| s.id),
        Some("t1".into()),
        "an outage must not lose the conversation"
    );
}

#[tokio::test]
async fn another_kinds_session_is_not_resumed() {
    let (_dir, town) = town(AgentKind::Gemini);
    let desk = Desk::new(
        FakeUserManagers::default(),
        Box::new(FakePublic::default()),
        std::sync::Arc::new(crate::worktree::FakeWorktrees::default()),
        &town,
    )
    .unwrap();
    desk.sessions
        .set(
            "ada",
            "c",
            Some(Session {
                id: "claude-5b9a".into(),
                kind: Some(AgentKind::Claude),
                tokens: [0, 0],
                at: 0,
            }),
        )
        .unwrap();
    desk.managers.runs.lock().unwrap().push_back(run(
        include_str!("drivers/recorded/gemini-0.61.0-first.jsonl"),
        "",
        0,
    ));
    let (events, ok) = turn(&desk, &town).await;
    assert!(
        ok && notices(&events).iter().any(|n| n.contains("Claude's")),
        "{events:?}"
    );
    assert!(
        !desk
            .managers
            .calls
            .calls()
            .join(" ")
            .contains("claude-5b9a"),
        "the claude id went to gemini"
    );
    assert_eq!(
        desk.sessions.get("ada", "c").and_then(|s| s.kind),
        Some(AgentKind::Gemini)
    );
}

#[tokio::test]
async fn turns_count_what_they_spent_and_a_spent_budget_refuses_the_next() {
    let (_dir, mut town) = town(AgentKind::Claude);
    town.residents
        .iter_mut()
        .find(|r| r.name == "ada")
        .unwrap()
        .budget
        .usd = Some(0.0005);
    let desk = Desk::new(
        FakeUserManagers::default(),
        Box::new(FakePublic::default()),
        std::sync::Arc::new(crate::worktree::FakeWorktrees::default()),
        &town,
    )
    .unwrap();
    let tool = include_str!("drivers/recorded/claude-2.1.332-tool.jsonl");
    desk.managers.runs.lock().unwrap().extend([
        run(tool, "", 0),
        run(tool, "", 0),
        run(tool, "", 0),
    ]);
    let (tx, _rx) = mpsc::channel(256);
    let first = desk
        .turn(&town, "ada", "c", "hi", false, tx.clone())
        .await
        .unwrap();
    assert_eq!(
        first
            .spent
            .map(|s| (s.turns, s.input_tokens, s.output_tokens, s.cost_usd)),
        Some((1, 22, 10, 0.000288))
    );
    let second = desk
        .turn(&town, "ada", "c", "hi", false, tx.clone())
        .await
        .unwrap();
    assert_eq!(
        second.conversation_spent.map(|s| (s.turns, s.input_tokens)),
        Some((2, 44))
    );
    let refused = desk
        .turn(&town, "ada", "c", "hi", false, tx)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("$0.000576")
            && refused.contains("budget of $0.0005")
            && refused.contains("[budget]"),
        "{refused}"
    );
    assert_eq!(
        desk.managers.runs.lock().unwrap().len(),
        1,
        "the refused turn ran"
    );
}

#[tokio::test]
async fn what_is_seen_just_after_a_turn_ended_is_still_that_turns() {
    let (_dir, town) = town(AgentKind::Claude);
    let desk = Desk::new(
        FakeUserManagers::default(),
        Box::new(FakePublic::default()),
        std::sync::Arc::new(crate::worktree::FakeWorktrees::default()),
        &town,
    )
    .unwrap();
    let before = std::time::Instant::now();
    desk.managers.runs.lock().unwrap().push_back(run(
        include_str!("drivers/recorded/claude-2.1.332-first.jsonl"),
        "",
        0,
    ));
    let (_, ok) = turn(&desk, &town).await;
    assert!(ok);
    let seen = std::time::Instant::now();
    let unit = desk.turn_at("ada", seen).expect("the turn that just ended");
    assert!(unit.starts_with("townhall-turn-ada-"), "{unit}");
    assert_eq!(desk.turn_at("vox", seen), None, "another resident's");
    // Before the turn began, it was not running.
    assert_eq!(
        desk.turn_at("ada", before - std::time::Duration::from_secs(1)),
        None
    );
    assert_eq!(
        desk.turn_at("ada", seen + std::time::Duration::from_secs(10)),
        None,
        "long after it ended"
    );
}

/// A desk on fakes whose worktrees are `worktrees`.
fn desk_with(
    town: &Town,
    worktrees: std::sync::Arc<crate::worktree::FakeWorktrees>,
) -> Desk<FakeUserManagers> {
    Desk::new(
        FakeUserManagers::default(),
        Box::new(FakePublic::default()),
        worktrees,
        town,
    )
    .unwrap()
}

/// Where each of ada's turns ran, from the fake manager's record.
fn workdirs(desk: &Desk<FakeUserManagers>) -> Vec<String> {
    let calls = desk.managers.calls.calls();
    let runs = calls.iter().filter(|c| c.starts_with("run "));
    runs.filter_map(|c| c.rsplit_once(" in ").map(|(_, w)| w.to_string()))
        .collect()
}

#[tokio::test]
async fn each_conversation_keeps_a_worktree_of_its_own_for_the_round() {
    let (_dir, town) = town(AgentKind::Command);
    let worktrees = std::sync::Arc::new(crate::worktree::FakeWorktrees::default());
    let desk = desk_with(&town, worktrees.clone());
    let say = |conversation: &'static str, prompt: &'static str| {
        let (desk, town) = (&desk, &town);
        async move {
            let (tx, _rx) = mpsc::channel(256);
            desk.turn(town, "ada", conversation, prompt, false, tx)
                .await
                .unwrap()
        }
    };
    let first = say("!r:t/$one", "Fix the parser").await;
    let again = say("!r:t/$one", "and now the tests").await;
    let other = say("!r:t/$two", "Write the docs").await;
    assert_eq!(
        [first.branch, again.branch, other.branch],
        [
            Some("ada/conv-fix-the-parser".to_string()),
            Some("ada/conv-fix-the-parser".to_string()),
            Some("ada/conv-write-the-docs".to_string())
        ]
    );
    let home = town.home(town.resident("ada").unwrap());
    assert_eq!(
        workdirs(&desk),
        [
            home.join(".worktrees/fix-the-parser"),
            home.join(".worktrees/fix-the-parser"),
            home.join(".worktrees/write-the-docs"),
        ]
        .map(|p| p.display().to_string())
    );
    // A third conversation's first words are the first's: it never gets the first's name.
    let third = say("!r:t/$three", "Fix the parser!").await;
    let third = third.branch.unwrap_or_default();
    assert!(
        third.starts_with("ada/conv-fix-the-parser-") && third.len() > 24,
        "{third}"
    );
    assert!(
        worktrees
            .calls
            .calls()
            .iter()
            .any(|c| c == "open ada fix-the-parser not fix-the-parser write-the-docs"),
        "{:?}",
        worktrees.calls.calls()
    );
    // Asked once per conversation, and kept across a restart of the daemon.
    let opened = |w: &crate::worktree::FakeWorktrees| {
        let calls = w.calls.calls();
        calls.iter().filter(|c| c.starts_with("open ")).count()
    };
    assert_eq!(opened(&worktrees), 3);
    let restarted = desk_with(&town, worktrees.clone());
    let (tx, _rx) = mpsc::channel(256);
    let o = restarted
        .turn(&town, "ada", "!r:t/$one", "more", false, tx)
        .await
        .unwrap();
    assert_eq!(o.branch.as_deref(), Some("ada/conv-fix-the-parser"));
    assert_eq!(opened(&worktrees), 3);
}

#[tokio::test]
async fn a_workspace_that_is_no_repository_or_a_failed_worktree_runs_as_before() {
    let (_dir, town) = town(AgentKind::Command);
    let workspace = {
        let r = town.resident("ada").unwrap();
        town.home(r).join(&r.agent.workspace).display().to_string()
    };
    let plain = std::sync::Arc::new(crate::worktree::FakeWorktrees::default());
    *plain.answer.lock().unwrap() = Some(crate::worktree::Opened::NotARepo);
    let failing = std::sync::Arc::new(crate::worktree::FakeWorktrees {
        fail: true,
        ..Default::default()
    });
    for (worktrees, told) in [(plain, false), (failing, true)] {
        let desk = desk_with(&town, worktrees.clone());
        let (tx, mut rx) = mpsc::channel(256);
        let o = desk
            .turn(&town, "ada", &format!("!r:t/{told}"), "hi", false, tx)
            .await
            .unwrap();
        let mut events = Vec::new();
        while let Ok(e) = rx.try_recv() {
            events.push(e);
        }
        assert_eq!(o.branch, None);
        assert_eq!(workdirs(&desk), std::slice::from_ref(&workspace));
        assert_eq!(
            notices(&events)
                .iter()
                .any(|n| n.contains("shared workspace") && n.contains("told to fail")),
            told,
            "{events:?}"
        );
    }
}
