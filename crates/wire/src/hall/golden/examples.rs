//! One example of every request, answer, notice and turn event the hall carries, each
//! field filled, as the golden file records them.

use crate::hall::*;

pub(super) fn s(text: &str) -> String {
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
        tools: [(s("asked the mayor"), 1)].into_iter().collect(),
        branch: Some(s("ada/conv-fix-the-parser")),
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

pub(super) fn asks() -> Vec<Ask> {
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
        Ask::ResetReport {
            by: who.clone(),
            resident: None,
        },
        Ask::Reset {
            by: who.clone(),
            resident: Some(r.clone()),
        },
        Ask::Checkpoint {
            resident: r.clone(),
            by: who.clone(),
            label: s("before the refactor"),
        },
        Ask::Checkpoints {
            resident: r.clone(),
        },
        Ask::Rollback {
            resident: r.clone(),
            by: who.clone(),
            n: 2,
        },
        Ask::Every {
            resident: r.clone(),
            by: who.clone(),
            on: s("Mon..Fri 07:00"),
            prompt: s("run the tests"),
            room: s("!room:town.test"),
        },
        Ask::Schedules {
            resident: r.clone(),
        },
        Ask::Resume {
            resident: r.clone(),
            sender: who.clone(),
        },
        Ask::Unschedule {
            resident: r.clone(),
            by: who.clone(),
            n: 3,
        },
        Ask::Decide {
            id: 7,
            resident: r.clone(),
            by: who.clone(),
            allow: true,
            round: true,
        },
        Ask::Approvals {
            resident: r.clone(),
            by: who.clone(),
            clear: false,
        },
        Ask::History {
            resident: r.clone(),
            by: who.clone(),
            n: 10,
        },
        Ask::Usage {
            resident: r.clone(),
            by: who.clone(),
            days: 14,
        },
        Ask::Mode {
            resident: r.clone(),
            by: who.clone(),
            conversation: s("!room:town.test"),
            change: ModeChange::Model(Some(s("opus"))),
        },
        Ask::Answer {
            id: 8,
            resident: r.clone(),
            by: who.clone(),
            answer: s("blue"),
        },
        Ask::FileSent {
            id: 9,
            error: Some(s("the homeserver refused it")),
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
            resident: r.clone(),
            what: Refused::MessageIgnored,
            from: s("@stranger:town.test"),
            room: s("!room:town.test"),
            why: s("not allowed"),
        },
        Ask::Network {
            resident: r,
            sender: who,
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
        Notice::BudgetSpent {
            spent: s("$1.02"),
            budget: s("$1.00"),
        },
        Notice::Dropped {
            to: s("203.0.113.2 80/tcp"),
            more: 2,
            turn: Some(s("townhall-turn-ada-1")),
        },
        Notice::ScheduleSkipped {
            id: s("3"),
            on: s("Mon..Fri 07:00"),
            room: s("!room:town.test"),
        },
        Notice::EventsStopped {
            room: s("!room:town.test"),
            hops: 4,
        },
        Notice::Parked {
            room: s("!room:town.test"),
            said: s("claude: Claude AI usage limit reached|1760018000"),
            at: s("2025-10-09T14:33:20Z"),
            in_secs: 3600,
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

pub(super) fn saids() -> Vec<Said> {
    let r = s("ada");
    let who = s("@mayor:town.test");
    let mut out = vec![
        Said::Welcome { version: VERSION },
        Said::Deliver(Delivery {
            id: 5,
            resident: r.clone(),
            reply: reply(),
            text: s("the answer"),
            errors: vec![s("an error")],
            outcome: Some(outcome()),
            answers: vec![s("$asked"), s("$joined")],
            came: None,
        }),
        Said::Deliver(Delivery {
            id: 6,
            resident: r.clone(),
            reply: reply(),
            text: s("the tests pass"),
            errors: vec![],
            outcome: Some(outcome()),
            answers: vec![],
            came: Some(Came::Schedule {
                id: s("3"),
                on: s("Mon..Fri 07:00"),
            }),
        }),
        Said::Deliver(Delivery {
            id: 7,
            resident: s("vox"),
            reply: reply(),
            text: s("reviewed"),
            errors: vec![],
            outcome: Some(outcome()),
            answers: vec![],
            came: Some(Came::Event {
                what: s("ada pushed `ada/feature`"),
            }),
        }),
        Said::Deliver(Delivery {
            id: 8,
            resident: r.clone(),
            reply: reply(),
            text: s("done after the wait"),
            errors: vec![],
            outcome: Some(outcome()),
            answers: vec![s("$asked")],
            came: Some(Came::Resumed),
        }),
        Said::Schedules {
            schedules: vec![ScheduleInfo {
                id: s("3"),
                on: s("Mon..Fri 07:00"),
                prompt: s("run the tests"),
                room: s("!room:town.test"),
                next: Some(s("Mon 2026-12-07 07:00:00 UTC")),
                declared: None,
                by: Some(who.clone()),
            }],
        },
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
            town_round: 2,
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
            worktrees: vec![Worktree {
                conversation: s("!room:town.test/$thread"),
                branch: s("ada/conv-fix-the-parser"),
                path: s(".worktrees/fix-the-parser"),
                dirty: Some(2),
            }],
        },
        Said::Network {
            residents: vec![NetworkReport {
                resident: r.clone(),
                round: 3,
                gated: true,
                allowed: vec![s("github.com:443")],
                opened: vec![s("registry.npmjs.org:443")],
                refused: vec![
                    Refusal {
                        to: s("203.0.113.2 80/tcp"),
                        by: RefusedBy::Kernel,
                        times: 3,
                    },
                    Refusal {
                        to: s("pypi.org:443"),
                        by: RefusedBy::Gate,
                        times: 1,
                    },
                ],
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
            resident: Some(s("ada")),
        }),
        Said::Checkpoints {
            checkpoints: vec![CheckpointInfo {
                n: 2,
                label: s("before the refactor"),
                age_secs: 90,
                bytes: 4096,
                entries: 12,
                whole: true,
            }],
        },
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
            approvers: vec![who.clone()],
            round: true,
        },
        Said::Usage {
            days: vec![UsageDay {
                date: s("2026-12-04"),
                turns: 3,
                tokens: 4200,
                usd: 0.25,
            }],
        },
        Said::Activity {
            resident: r.clone(),
            activity: Activity::Working {
                what: s("fix the build"),
            },
        },
        Said::Activity {
            resident: r.clone(),
            activity: Activity::WaitingForApproval,
        },
        Said::Mode {
            mode: Mode {
                model: Some(s("opus")),
                effort: Some(s("high")),
                plan: true,
            },
            kind: s("claude"),
            models: vec![s("opus"), s("sonnet")],
        },
        Said::History {
            lines: vec![s(
                "2026-12-04T07:00:00Z  round 4 ended for ada by @mayor:town.test",
            )],
        },
        Said::Approvals {
            rules: vec![RoundRule {
                rule: s("Bash(git push*)"),
                by: who.clone(),
            }],
        },
        Said::ApprovalEnded {
            id: 7,
            resident: r.clone(),
            allow: false,
            reason: s("timed out"),
        },
        Said::Question {
            id: 8,
            resident: r.clone(),
            room: s("!room:town.test"),
            thread: None,
            question: s("red or blue?"),
            choices: vec![s("red"), s("blue")],
            mention: vec![who.clone()],
            wait_secs: 300,
        },
        Said::QuestionEnded {
            id: 8,
            resident: r.clone(),
            answer: Some(s("blue")),
            by: Some(who.clone()),
        },
        Said::Told {
            resident: r.clone(),
            room: s("!room:town.test"),
            thread: None,
            text: s("halfway there"),
        },
        Said::SendFile {
            id: 9,
            resident: r.clone(),
            room: s("!room:town.test"),
            thread: None,
            file: Outgoing {
                name: s("plot.png"),
                mimetype: s("image/png"),
                bytes: 2048,
                path: "/run/townhall-files/ada-1/plot.png".into(),
            },
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
