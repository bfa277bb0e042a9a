use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::schedule::HeldApply;
use crate::units::FakeUserManagers;

/// A reload's apply that began before `!unschedule` removed a schedule must not be the
/// last word PID 1 hears: the older list would bring the removed timer back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_changes_at_once_leave_the_newer_schedules_last() {
    let state = tempfile::tempdir().unwrap();
    let mut town = crate::testing::demo_town();
    town.state = state.path().into();
    let (began, began_rx) = mpsc::channel();
    let (go_on, go_on_rx) = mpsc::channel();
    let mut machine = crate::testing::fake_machine(vec![]);
    machine.timers.hold = Some(HeldApply {
        began,
        go_on: std::sync::Mutex::new(go_on_rx),
    });
    let d = Arc::new(
        Daemon::new(
            town,
            machine,
            FakeUserManagers::default(),
            crate::grant::FakeAcls::default(),
        )
        .unwrap(),
    );
    let kept = d
        .schedules
        .add(crate::schedule::Made {
            n: 0,
            resident: "ada".into(),
            on: "daily".into(),
            prompt: "tick".into(),
            room: "!r:t".into(),
            by: "@mayor:t".into(),
        })
        .unwrap();

    // A reload's apply begins with the schedule still there, and is held.
    let reload = tokio::spawn({
        let d = d.clone();
        async move { d.apply_timers().await }
    });
    let first = tokio::task::spawn_blocking({
        let rx = began_rx;
        move || (rx.recv().unwrap(), rx)
    });
    let (first, began_rx) = first.await.unwrap();
    assert_eq!(first, "timers townhall-at-ada-1");

    // Meanwhile the schedule is removed in chat; its apply must wait for the reload's.
    let unscheduled = tokio::spawn({
        let d = d.clone();
        async move { d.unschedule("ada", kept.n).await }
    });
    let overtook = tokio::task::spawn_blocking(move || {
        let got = began_rx.recv_timeout(Duration::from_millis(500)).ok();
        (got, began_rx)
    });
    let (overtook, began_rx) = overtook.await.unwrap();
    assert_eq!(
        overtook, None,
        "a second apply began while the first was held"
    );

    go_on.send(()).unwrap();
    reload.await.unwrap().unwrap();
    let second = tokio::task::spawn_blocking(move || began_rx.recv().unwrap());
    assert_eq!(second.await.unwrap(), "timers ");
    go_on.send(()).unwrap();
    unscheduled.await.unwrap().unwrap();
    let calls = d.machine.timers().calls.calls();
    assert_eq!(
        calls.last().map(String::as_str),
        Some("timers "),
        "the removed schedule's timer came back: {calls:?}"
    );
}
