//! The hall's shape, pinned: one example of every request, answer, notice and turn event,
//! written as the lines the wire carries and compared with `golden/hall-vN.jsonl` for the
//! current VERSION. A change of shape fails here until VERSION is bumped and the new
//! version's file recorded (`UPDATE_GOLDEN=1 cargo test -p townhall-wire`), which refuses
//! to overwrite a version already recorded.

use std::path::PathBuf;

use super::*;

/// Each enum's variants, by an exhaustive match: a new variant does not compile until it
/// has an index here, and the examples must then show it.
fn ask_index(a: &Ask) -> usize {
    match a {
        Ask::Subscribe => 0,
        Ask::Turn { .. } => 1,
        Ask::Stop { .. } => 2,
        Ask::Forget { .. } => 3,
        Ask::Status { .. } => 4,
        Ask::Cost { .. } => 5,
        Ask::Session { .. } => 6,
        Ask::Log { .. } => 7,
        Ask::Branches { .. } => 8,
        Ask::ResetReport { .. } => 9,
        Ask::Reset { .. } => 10,
        Ask::Decide { .. } => 11,
        Ask::Devices => 12,
        Ask::Lease { .. } => 13,
        Ask::Release { .. } => 14,
        Ask::Tail { .. } => 15,
        Ask::Untail { .. } => 16,
        Ask::File { .. } => 17,
        Ask::Delivered { .. } => 18,
        Ask::Health { .. } => 19,
        Ask::Audit { .. } => 20,
    }
}
const ASKS: usize = 21;

fn said_index(s: &Said) -> usize {
    match s {
        Said::Welcome { .. } => 0,
        Said::Notice { .. } => 1,
        Said::Deliver(_) => 2,
        Said::Reloaded => 3,
        Said::Turn(_) => 4,
        Said::Accepted => 5,
        Said::Gathered { .. } => 6,
        Said::Joined { .. } => 7,
        Said::TurnDone { .. } => 8,
        Said::Stopped { .. } => 9,
        Said::Status(_) => 10,
        Said::Cost(_) => 11,
        Said::Session { .. } => 12,
        Said::LastTurn { .. } => 13,
        Said::Branches { .. } => 14,
        Said::Losses { .. } => 15,
        Said::Filed { .. } => 16,
        Said::ResetDone(_) => 17,
        Said::Devices { .. } => 18,
        Said::Leased(_) => 19,
        Said::Released { .. } => 20,
        Said::Tailing { .. } => 21,
        Said::Serial { .. } => 22,
        Said::TailEnded { .. } => 23,
        Said::Approval { .. } => 24,
        Said::ApprovalEnded { .. } => 25,
        Said::Done => 26,
        Said::Error { .. } => 27,
    }
}
const SAIDS: usize = 28;

fn notice_index(n: &Notice) -> usize {
    match n {
        Notice::DeviceGranted { .. } => 0,
        Notice::DeviceGone { .. } => 1,
        Notice::DeviceRevoked { .. } => 2,
        Notice::Pushed { .. } => 3,
        Notice::RoundBegan { .. } => 4,
        Notice::RoundLost { .. } => 5,
    }
}
const NOTICES: usize = 6;

fn event_index(e: &TurnEvent) -> usize {
    match e {
        TurnEvent::Text { .. } => 0,
        TurnEvent::Tool { .. } => 1,
        TurnEvent::Final { .. } => 2,
        TurnEvent::Session { .. } => 3,
        TurnEvent::Usage { .. } => 4,
        TurnEvent::Error { .. } => 5,
        TurnEvent::Notice { .. } => 6,
        TurnEvent::Queued { .. } => 7,
    }
}
const EVENTS: usize = 8;

fn s(text: &str) -> String {
    text.to_string()
}

fn reply() -> Reply {
    Reply {
        room: s("!room:town.test"),
        thread: Some(s("$thread")),
        event: s("$event"),
    }
}

fn spent() -> Spent {
    Spent {
        turns: 1,
        input_tokens: 10,
        output_tokens: 20,
        cost_usd: 0.5,
    }
}

fn outcome() -> Outcome {
    Outcome {
        result: s("success"),
        status: 0,
        stopped: false,
        timed_out: false,
        stderr_tail: vec![s("warning")],
        duration_ms: 1200,
        spent: Some(spent()),
        conversation_spent: Some(spent()),
        session: Some(s("session-1")),
        files: vec![Outgoing {
            name: s("plot.png"),
            mimetype: s("image/png"),
            bytes: 3,
            path: "/var/lib/townhall/files/1/plot.png".into(),
        }],
        files_left: vec![s("huge.bin")],
    }
}

fn lease() -> Lease {
    Lease {
        devnode: "/dev/ttyS0".into(),
        resident: s("vox"),
        by: s("@mayor:town.test"),
        since: s("2026-12-02T10:00:00Z"),
        until: s("2026-12-02T12:00:00Z"),
    }
}

fn asks() -> Vec<Ask> {
    let (r, who, conv) = (s("ada"), s("@mayor:town.test"), s("!room:town.test"));
    vec![
        Ask::Subscribe,
        Ask::Turn {
            resident: r.clone(),
            sender: who.clone(),
            conversation: conv.clone(),
            prompt: s("hello"),
            reply: reply(),
        },
        Ask::Stop {
            resident: r.clone(),
            sender: who.clone(),
        },
        Ask::Forget {
            resident: r.clone(),
            sender: who.clone(),
            conversation: conv.clone(),
        },
        Ask::Status {
            resident: r.clone(),
        },
        Ask::Cost {
            resident: r.clone(),
            conversation: conv.clone(),
        },
        Ask::Session {
            resident: r.clone(),
            conversation: conv.clone(),
        },
        Ask::Log {
            resident: r.clone(),
        },
        Ask::Branches {
            resident: r.clone(),
        },
        Ask::ResetReport { by: who.clone() },
        Ask::Reset { by: who.clone() },
        Ask::Decide {
            id: 7,
            by: who.clone(),
            allow: true,
        },
        Ask::Devices,
        Ask::Lease {
            by: who.clone(),
            device: s("ttyS0"),
            resident: s("vox"),
            secs: 3600,
        },
        Ask::Release {
            by: who.clone(),
            device: s("ttyS0"),
        },
        Ask::Tail {
            by: who.clone(),
            device: s("ttyS0"),
            baud: Some(115200),
        },
        Ask::Untail {
            by: who.clone(),
            device: s("ttyS0"),
        },
        Ask::File {
            resident: r.clone(),
            sender: who.clone(),
            conversation: conv,
            name: s("data.csv"),
            mimetype: s("text/csv"),
            spool: s("/var/lib/townhall-chat/spool/1"),
        },
        Ask::Delivered { id: 3 },
        Ask::Health {
            resident: r.clone(),
            health: s("syncing"),
        },
        Ask::Audit {
            resident: r,
            what: Refused::MessageIgnored,
            from: s("@stranger:town.test"),
            room: s("!room:town.test"),
            why: s("not allowed"),
        },
    ]
}

fn notices() -> Vec<Notice> {
    vec![
        Notice::DeviceGranted {
            devnode: s("/dev/ttyS0"),
            read_write: true,
        },
        Notice::DeviceGone {
            devnode: s("/dev/ttyS0"),
        },
        Notice::DeviceRevoked {
            devnode: s("/dev/ttyS0"),
            lease_ended: true,
        },
        Notice::Pushed {
            pusher: s("ada"),
            repo: s("demo"),
            path: s("/srv/git/demo.git"),
            refname: s("refs/heads/ada/work"),
            commits: s("abc123 a change"),
            stat: s("1 file changed"),
        },
        Notice::RoundBegan {
            round: 4,
            lines: vec![s("could not build the home")],
        },
        Notice::RoundLost {
            round: 3,
            lines: vec![s("work: 2 uncommitted")],
        },
    ]
}

fn events() -> Vec<TurnEvent> {
    vec![
        TurnEvent::Text { text: s("hi") },
        TurnEvent::Tool {
            summary: s("Bash: ls"),
        },
        TurnEvent::Final { text: s("done") },
        TurnEvent::Session { id: s("session-1") },
        TurnEvent::Usage {
            input_tokens: 10,
            output_tokens: 20,
            cost_usd: Some(0.5),
        },
        TurnEvent::Error { message: s("x") },
        TurnEvent::Notice { text: s("n") },
        TurnEvent::Queued { ahead: 2 },
    ]
}

fn saids() -> Vec<Said> {
    let r = s("ada");
    let mut out = vec![
        Said::Welcome { version: VERSION },
        Said::Deliver(Delivery {
            id: 5,
            resident: r.clone(),
            reply: reply(),
            text: s("the answer"),
            errors: vec![s("an error")],
            outcome: Some(outcome()),
        }),
        Said::Reloaded,
        Said::Accepted,
        Said::Gathered { waiting: 2 },
        Said::Joined {
            into: s("$earlier"),
        },
        Said::TurnDone {
            delivery: 5,
            outcome: Some(outcome()),
            error: None,
        },
        Said::Stopped { turns: 1 },
        Said::Status(ResidentReport {
            resident: r.clone(),
            round: 3,
            uptime_secs: 60,
            turns: vec![RunningTurn {
                resident: r.clone(),
                conversation: s("!room:town.test"),
                unit: s("townhall-turn-1.service"),
                running_secs: 5,
            }],
            processes: 4,
            memory_bytes: 1024,
            cpu_ms: 30,
            chat: s("syncing"),
            last_reset: vec![s("kept work")],
            waiting: 1,
            spent: spent(),
            budget_usd: Some(5.0),
            budget_tokens: Some(100_000),
        }),
        Said::Cost(CostReport {
            resident: r.clone(),
            round: 3,
            spent: spent(),
            conversation: spent(),
            rounds: vec![(2, spent())],
            budget_usd: None,
            budget_tokens: None,
        }),
        Said::Session {
            id: Some(s("session-1")),
        },
        Said::LastTurn {
            outcome: Some(outcome()),
        },
        Said::Branches {
            repos: vec![RepoBranches {
                repo: s("demo"),
                path: s("/srv/git/demo.git"),
                branches: vec![Branch {
                    name: s("ada/work"),
                    commit: s("abc123"),
                    when: s("2 minutes ago"),
                    subject: s("a change"),
                }],
            }],
        },
        Said::Losses {
            residents: vec![LossReport {
                resident: r.clone(),
                lines: vec![s("work: 2 uncommitted")],
            }],
        },
        Said::Filed {
            path: s("inbox/data.csv"),
        },
        Said::ResetDone(ResetSummary {
            round: 4,
            duration_ms: 250,
            warnings: vec![s("ada: could not build the home")],
        }),
        Said::Devices {
            devices: vec![DeviceStatus {
                devnode: "/dev/ttyS0".into(),
                subsystem: s("tty"),
                sysname: s("ttyS0"),
                holders: vec![Held {
                    resident: r.clone(),
                    perm: Permission::Rw,
                    since: s("2026-12-02T10:00:00Z"),
                    until: None,
                }],
                refused: None,
                baud: Some(115200),
            }],
        },
        Said::Leased(lease()),
        Said::Released {
            leases: vec![lease()],
        },
        Said::Tailing {
            devnode: s("/dev/ttyS0"),
            baud: Some(115200),
        },
        Said::Serial {
            text: s("```\nboot\n```"),
        },
        Said::TailEnded { why: s("untail") },
        Said::Approval {
            id: 7,
            resident: r.clone(),
            room: s("!room:town.test"),
            thread: None,
            tool: s("Bash"),
            subject: s("git push"),
            rule: s("Bash(git push*)"),
            wait_secs: 60,
        },
        Said::ApprovalEnded {
            id: 7,
            resident: r.clone(),
            allow: false,
            reason: s("timed out"),
        },
        Said::Done,
        Said::Error { message: s("x") },
    ];
    out.extend(notices().into_iter().map(|notice| Said::Notice {
        resident: r.clone(),
        notice,
    }));
    out.extend(events().into_iter().map(Said::Turn));
    out
}

fn covers(indices: impl Iterator<Item = usize>, all: usize, what: &str) {
    let mut seen = vec![false; all];
    indices.for_each(|i| seen[i] = true);
    let missing: Vec<usize> = (0..all).filter(|i| !seen[*i]).collect();
    assert!(
        missing.is_empty(),
        "golden.rs shows no example of {what} {missing:?}"
    );
}

fn golden_path(version: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("golden/hall-v{version}.jsonl"))
}

#[test]
fn the_hall_keeps_its_recorded_shape_until_its_version_is_bumped() {
    let (asks, saids) = (asks(), saids());
    covers(asks.iter().map(ask_index), ASKS, "the request");
    covers(saids.iter().map(said_index), SAIDS, "the answer");
    let notices = saids.iter().filter_map(|s| match s {
        Said::Notice { notice, .. } => Some(notice_index(notice)),
        _ => None,
    });
    covers(notices, NOTICES, "the notice");
    let events = saids.iter().filter_map(|s| match s {
        Said::Turn(e) => Some(event_index(e)),
        _ => None,
    });
    covers(events, EVENTS, "the turn event");

    let mut lines = Vec::new();
    for a in asks {
        let line = serde_json::to_string(&Envelope::new(a.clone())).unwrap();
        let back: Envelope = serde_json::from_str(&line).unwrap();
        assert_eq!(back.ask, a, "a request survives the wire");
        lines.push(line);
    }
    for said in saids {
        let line = serde_json::to_string(&said).unwrap();
        let back: Said = serde_json::from_str(&line).unwrap();
        assert_eq!(back, said, "an answer survives the wire");
        lines.push(line);
    }
    let now = lines.join("\n") + "\n";
    let path = golden_path(VERSION);
    let recorded = std::fs::read_to_string(&path).ok();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        assert!(
            recorded.as_ref().is_none_or(|r| *r == now),
            "{} is already recorded with another shape: bump VERSION in crates/wire/src/hall/mod.rs instead of rewriting it",
            path.display()
        );
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let recorded = recorded.unwrap_or_else(|| {
        panic!(
            "no {} for hall VERSION {VERSION}: record it with UPDATE_GOLDEN=1 cargo test -p townhall-wire",
            path.display()
        )
    });
    assert!(
        recorded == now,
        "the hall's shape changed but VERSION is still {VERSION}: bump VERSION in crates/wire/src/hall/mod.rs and record golden/hall-v{}.jsonl with UPDATE_GOLDEN=1 cargo test -p townhall-wire\n--- recorded\n{recorded}\n--- now\n{now}",
        VERSION + 1
    );
    // Every earlier version recorded is another shape: a bump came with a change.
    for v in 1..VERSION {
        if let Ok(old) = std::fs::read_to_string(golden_path(v)) {
            assert_ne!(
                old, now,
                "hall-v{v}.jsonl and hall-v{VERSION}.jsonl are the same shape"
            );
        }
    }
}

#[test]
fn requests_carry_their_version_beside_the_tag_and_unknown_ones_fail() {
    let line = serde_json::to_string(&Envelope::new(Ask::Stop {
        resident: s("ada"),
        sender: s("@mayor:town.test"),
    }))
    .unwrap();
    assert_eq!(
        line,
        format!(
            r#"{{"v":{VERSION},"request":"stop","resident":"ada","sender":"@mayor:town.test"}}"#
        )
    );
    for r in [Refused::InviteDeclined, Refused::MessageIgnored] {
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            r.event(),
            "one name on the wire and in the audit log"
        );
    }
    assert!(serde_json::from_str::<Envelope>(r#"{"v":2,"request":"format_disk"}"#).is_err());
}
