//! The conversation state over event sequences: messages arriving, turns ending, the
//! daemon restarting mid-turn. Each row is an event and what the state must answer.

use super::disk::{self, Saved};
use super::state::{Arrival, Batch, Lanes, MAX_WAITING, MAX_WAITING_CHARS, Message, prompt};
use super::{Conversations, Waiting};
use crate::hall::Reply;

#[derive(Clone, Copy)]
enum Ev {
    /// A room's message in conversation `.0`.
    Chat(&'static str, &'static str),
    /// Root's CLI asks in conversation `.0`.
    Cli(&'static str, &'static str),
    /// The conversation's turn ends.
    End(&'static str),
    /// The daemon stops and starts again from what it saved.
    Restart,
    /// The restarted daemon runs what was saved.
    Resume,
}

fn waiting(text: &str) -> Waiting {
    Waiting {
        sender: "@mayor:t".into(),
        prompt: text.into(),
        reply: Reply {
            room: "!r:t".into(),
            thread: None,
            event: format!("${text}"),
        },
        again: false,
        came: None,
    }
}

/// A batch as `a+b`: `!` after a message given again, `~` before one nobody waits on,
/// `cli:` before root's CLI's.
fn show(batch: &Batch<&'static str>) -> String {
    let one = |text: &str, again: bool, asker: &Option<&str>| {
        let lost = if asker.is_none() { "~" } else { "" };
        let again = if again { "!" } else { "" };
        format!("{lost}{text}{again}")
    };
    match batch {
        Batch::Room(b) => b
            .iter()
            .map(|(w, asker)| one(&w.prompt, w.again, asker))
            .collect::<Vec<_>>()
            .join("+"),
        Batch::Cli { prompt, asker, .. } => format!("cli:{}", one(prompt, false, asker)),
    }
}

fn key(c: &str) -> (String, String) {
    ("ada".into(), c.into())
}

/// Play `events`, returning what the state answered to each.
fn play(events: &[Ev]) -> Vec<String> {
    let mut lanes: Lanes<&'static str> = Lanes::default();
    let mut said = vec![];
    for ev in events {
        let s = match *ev {
            Ev::Chat(c, text) => arrival(lanes.arrive(key(c), Message::Chat(waiting(text)), text)),
            Ev::Cli(c, text) => {
                let m = Message::Cli {
                    prompt: text.into(),
                    fresh: false,
                };
                arrival(lanes.arrive(key(c), m, text))
            }
            Ev::End(c) => match lanes.ended(&key(c)) {
                Some(b) => format!("run {}", show(&b)),
                None => "idle".into(),
            },
            Ev::Restart => {
                lanes = Lanes::restarted(lanes.saved());
                "restarted".into()
            }
            Ev::Resume => {
                let runs: Vec<String> = lanes
                    .resume()
                    .iter()
                    .map(|((_, c), b)| format!("{c}: run {}", show(b)))
                    .collect();
                runs.join("; ")
            }
        };
        said.push(s);
    }
    said
}

fn arrival(a: Arrival<&'static str>) -> String {
    match a {
        Arrival::Run(b) => format!("run {}", show(&b)),
        Arrival::Kept(n) => format!("kept {n}"),
        Arrival::Refused(..) => "refused".into(),
    }
}

#[test]
fn event_sequences() {
    use Ev::*;
    let table: &[(&str, &[(Ev, &str)])] = &[
        (
            "what comes while a turn runs is gathered, in order, into the next",
            &[
                (Chat("c", "a"), "run a"),
                (Chat("c", "b"), "kept 1"),
                (Chat("c", "d"), "kept 2"),
                (End("c"), "run b+d"),
                (End("c"), "idle"),
                (Chat("c", "e"), "run e"),
            ],
        ),
        (
            "conversations do not wait for each other",
            &[
                (Chat("c", "a"), "run a"),
                (Chat("other", "x"), "run x"),
                (End("c"), "idle"),
                (End("other"), "idle"),
            ],
        ),
        (
            "a turn of root's CLI runs alone, between the room's batches",
            &[
                (Cli("c", "k"), "run cli:k"),
                (Chat("c", "a"), "kept 1"),
                (Cli("c", "l"), "kept 2"),
                (Chat("c", "b"), "kept 3"),
                (Chat("c", "d"), "kept 4"),
                (End("c"), "run a"),
                (End("c"), "run cli:l"),
                (End("c"), "run b+d"),
                (End("c"), "idle"),
            ],
        ),
        (
            "a restart mid-turn runs the interrupted turn again, ahead of what waited",
            &[
                (Chat("c", "a"), "run a"),
                (Chat("c", "b"), "kept 1"),
                (Restart, "restarted"),
                (Chat("c", "d"), "kept 3"),
                (Resume, "c: run ~a!+~b+d"),
                (Resume, ""),
                (End("c"), "idle"),
            ],
        ),
        (
            "restarted again before the resumed turn ended: all of it is given again",
            &[
                (Chat("c", "a"), "run a"),
                (Chat("c", "b"), "kept 1"),
                (Restart, "restarted"),
                (Resume, "c: run ~a!+~b"),
                (Restart, "restarted"),
                (Resume, "c: run ~a!+~b!"),
            ],
        ),
        (
            "restarted before resuming: nothing is lost or doubled",
            &[
                (Chat("c", "a"), "run a"),
                (Restart, "restarted"),
                (Chat("c", "b"), "kept 2"),
                (Restart, "restarted"),
                (Resume, "c: run ~a!+~b"),
            ],
        ),
        (
            "root's CLI turns are not kept across a restart; the room's behind them are",
            &[
                (Cli("c", "k"), "run cli:k"),
                (Chat("c", "a"), "kept 1"),
                (Cli("c", "l"), "kept 2"),
                (Restart, "restarted"),
                (Resume, "c: run ~a"),
                (End("c"), "idle"),
            ],
        ),
        (
            "an idle town has nothing to resume",
            &[
                (Chat("c", "a"), "run a"),
                (End("c"), "idle"),
                (Restart, "restarted"),
                (Resume, ""),
                (End("c"), "idle"),
            ],
        ),
    ];
    for (name, rows) in table {
        let events: Vec<Ev> = rows.iter().map(|(e, _)| *e).collect();
        let want: Vec<&str> = rows.iter().map(|(_, w)| *w).collect();
        assert_eq!(play(&events), want, "{name}");
    }
}

#[test]
fn a_batch_is_one_prompt_that_says_what_is_given_again() {
    let mut again = waiting("first");
    again.again = true;
    let batch: Vec<(Waiting, Option<()>)> = vec![(again, None), (waiting("second\n"), None)];
    assert_eq!(
        prompt(&batch),
        "(townhall restarted while your turn on the first 1 message(s) below ran; they are given again)\n\nfirst\n\nsecond"
    );
}

#[test]
fn a_flood_is_refused_with_a_notice_past_the_cap() {
    let mut lanes: Lanes<u32> = Lanes::default();
    let chat = |t: &str| Message::Chat(waiting(t));
    assert!(matches!(
        lanes.arrive(key("c"), chat("run"), 0),
        Arrival::Run(_)
    ));
    for i in 0..MAX_WAITING {
        assert!(matches!(
            lanes.arrive(key("c"), chat(&i.to_string()), 0),
            Arrival::Kept(_)
        ));
    }
    let Arrival::Refused(notice, _) = lanes.arrive(key("c"), chat("one too many"), 7) else {
        panic!("kept past the cap")
    };
    assert!(notice.contains("not kept"), "{notice}");
    let mut lanes: Lanes<u32> = Lanes::default();
    assert!(matches!(
        lanes.arrive(key("c"), chat("run"), 0),
        Arrival::Run(_)
    ));
    let big = "x".repeat(MAX_WAITING_CHARS + 1);
    assert!(
        matches!(lanes.arrive(key("c"), chat(&big), 0), Arrival::Refused(..)),
        "too many characters"
    );
}

#[test]
fn the_state_is_on_disk_before_an_arrival_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let kept: Conversations<()> = Conversations::new(dir.path()).unwrap();
    kept.arrive(key("c"), Message::Chat(waiting("a")), ());
    kept.arrive(key("c"), Message::Chat(waiting("b")), ());
    let saved = disk::load(&dir.path().join(disk::FILE)).unwrap();
    let on_disk: Vec<(Vec<String>, Vec<String>)> = saved
        .iter()
        .map(|s: &Saved| {
            let texts = |v: &[Waiting]| v.iter().map(|w| w.prompt.clone()).collect();
            (texts(&s.running), texts(&s.waiting))
        })
        .collect();
    assert_eq!(on_disk, [(vec!["a".into()], vec!["b".into()])]);
    let again: Conversations<()> = Conversations::new(dir.path()).unwrap();
    assert_eq!(again.waiting("ada"), 2, "read back busy, both waiting");
    assert!(kept.ended(&key("c")).is_some());
    assert!(kept.ended(&key("c")).is_none());
    assert!(
        disk::load(&dir.path().join(disk::FILE)).unwrap().is_empty(),
        "nothing is left on disk"
    );
}

#[test]
fn waiting_saved_by_the_earlier_version_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let old = serde_json::json!([["ada", "c", [{"sender": "@mayor:t", "prompt": "kept", "reply": {"room": "!r:t", "thread": null, "event": "$e"}}]]]);
    std::fs::write(dir.path().join(disk::FILE), old.to_string()).unwrap();
    let kept: Conversations<()> = Conversations::new(dir.path()).unwrap();
    let resumed = kept.resume();
    let [(_, Batch::Room(batch))] = resumed.as_slice() else {
        panic!("{resumed:?}")
    };
    assert_eq!(prompt(batch), "kept");
}

#[test]
fn a_message_that_runs_only_when_idle_is_dropped_while_a_turn_runs() {
    let mut lanes: Lanes<&'static str> = Lanes::default();
    let first = lanes.arrive_idle(key("c"), Message::Chat(waiting("at 7")));
    assert_eq!(first.as_ref().map(show).as_deref(), Some("~at 7"));
    assert!(
        lanes
            .arrive_idle(key("c"), Message::Chat(waiting("at 8")))
            .is_none(),
        "busy: the second is dropped"
    );
    assert_eq!(lanes.waiting("ada"), 0, "and not kept");
    // A room's message while it runs waits as any other; then the conversation is idle.
    assert!(matches!(
        lanes.arrive(key("c"), Message::Chat(waiting("hi")), "m"),
        Arrival::Kept(1)
    ));
    assert_eq!(
        lanes.ended(&key("c")).as_ref().map(show).as_deref(),
        Some("hi")
    );
    assert!(lanes.ended(&key("c")).is_none());
    assert!(
        lanes
            .arrive_idle(key("c"), Message::Chat(waiting("at 9")))
            .is_some()
    );
}

#[test]
fn a_parked_conversation_keeps_its_messages_until_it_wakes_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c: Conversations<&'static str> = Conversations::new(dir.path()).unwrap();
    let Arrival::Run(_) = c.arrive(key("c"), Message::Chat(waiting("first")), "m") else {
        panic!("idle: runs")
    };
    // No reset time said: a backoff of 5 minutes, then 10.
    assert_eq!(c.park(&key("c"), None, 1000), Some(1300));
    assert!(matches!(
        c.arrive(key("c"), Message::Chat(waiting("meanwhile")), "m"),
        Arrival::Kept(2)
    ));
    assert_eq!(c.parked(), vec![(key("c"), 1300)]);
    // A restart keeps it parked, its messages in order.
    drop(c);
    let c: Conversations<&'static str> = Conversations::new(dir.path()).unwrap();
    assert!(
        c.resume().is_empty(),
        "a parked conversation does not run at start"
    );
    assert_eq!(c.parked(), vec![(key("c"), 1300)]);
    let woke = c.unpark(&key("c")).expect("its messages");
    assert_eq!(show(&woke), "~first+~meanwhile");
    assert_eq!(
        c.park(&key("c"), None, 2000),
        Some(2600),
        "twice in a row: 10 minutes"
    );
    assert!(c.unpark(&key("c")).is_some());
    assert!(c.ended(&key("c")).is_none());
    // The reset time the CLI said wins; `!stop` drops a parked conversation's messages.
    let Arrival::Run(_) = c.arrive(key("d"), Message::Chat(waiting("x")), "m") else {
        panic!("idle: runs")
    };
    assert_eq!(c.park(&key("d"), Some(5000), 1000), Some(5000));
    assert_eq!(c.cancel_parked("vox"), 0);
    assert_eq!(c.cancel_parked("ada"), 1);
    assert!(c.parked().is_empty());
    assert!(c.unpark(&key("d")).is_none());
}
