//! The daemon's part of a file's way, on the fake post: what the next prompt and the audit
//! say of a received file, what the room is told when it cannot be taken, and an outbox's
//! files out and their copies gone once posted.

use crate::files::Outgoing;
use crate::serve::Daemon;
use crate::serve::testing::TestDaemon;
use crate::testing::fake_machine;
use crate::units::FakeUserManagers;

const SPOOL: &str = "/var/lib/townhall-chat/spool/f1";

fn daemon(state: &std::path::Path) -> TestDaemon {
    let mut town = crate::testing::demo_town();
    town.state = state.into();
    Daemon::new(
        town,
        fake_machine(vec![]),
        FakeUserManagers::default(),
        crate::grant::FakeAcls::default(),
    )
    .unwrap()
}

fn ada_uid(d: &TestDaemon) -> u32 {
    d.town().resident("ada").unwrap().uid
}

#[tokio::test]
async fn a_received_file_goes_into_the_next_prompt_and_the_audit() {
    let state = tempfile::tempdir().unwrap();
    let d = daemon(state.path());
    let path = d
        .file_in("ada", "@mayor:t", "c", "notes.txt", "text/plain", SPOOL)
        .await
        .unwrap();
    assert!(path.ends_with("inbox/notes.txt"), "{path}");
    let max = d.town().resident("ada").unwrap().files.max_bytes;
    assert_eq!(
        d.machine.post.calls.calls(),
        [format!("receive {} notes.txt {SPOOL} {max}", ada_uid(&d))]
    );
    let lines = d.received.take("ada", "c");
    assert_eq!(
        lines,
        [format!(
            "[@mayor:t sent a file, saved at {path} (text/plain, 42 bytes)]"
        )]
    );
    let audit = std::fs::read_to_string(state.path().join("audit.log")).unwrap();
    assert!(
        audit.contains("file-received") && audit.contains(&path),
        "{audit}"
    );
}

#[tokio::test]
async fn a_file_that_cannot_be_taken_is_refused_and_says_nothing_to_the_prompt() {
    let state = tempfile::tempdir().unwrap();
    let d = daemon(state.path());
    let unknown = d
        .file_in("nobody", "@mayor:t", "c", "a.txt", "text/plain", SPOOL)
        .await
        .unwrap_err();
    assert!(unknown.to_string().contains("nobody is not a resident"));
    assert!(d.machine.post.calls.calls().is_empty(), "acted for nobody");
    d.machine.post.fail.lock().unwrap().push("receive");
    let failed = d
        .file_in("ada", "@mayor:t", "c", "a.txt", "text/plain", SPOOL)
        .await
        .unwrap_err();
    assert!(failed.to_string().contains("told to fail"), "{failed}");
    assert!(d.received.take("ada", "c").is_empty());
}

#[tokio::test]
async fn an_outbox_goes_with_the_answer_and_its_copies_go_once_posted() {
    let state = tempfile::tempdir().unwrap();
    let d = daemon(state.path());
    let out = Outgoing {
        name: "plot.png".into(),
        mimetype: "image/png".into(),
        bytes: 3,
        path: "/run/townhall-files/ada-1/plot.png".into(),
    };
    d.machine.post.outbox.lock().unwrap().push(out.clone());
    assert_eq!(d.files_out("ada").await, (vec![out.clone()], vec![]));
    d.machine.post.fail.lock().unwrap().push("send");
    let (sent, left) = d.files_out("ada").await;
    assert!(
        sent.is_empty() && left[0].contains("told to fail"),
        "{left:?}"
    );
    d.delivered(&[out.into()]);
    let calls = d.machine.post.calls.calls();
    assert_eq!(
        calls.last().map(String::as_str),
        Some("delivered /run/townhall-files/ada-1/plot.png"),
        "{calls:?}"
    );
}
