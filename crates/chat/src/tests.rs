//! The bot against FakeChat and a recording backend: invites, the hop limit, history,
//! encrypted rooms and failed sends, without a homeserver.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::bot::{Backend, Bot, Ended, HOP_LIMIT, Job, invited};
use super::policy::Command;
use super::{FakeChat, Heard, MatrixChat, Message};
use townhall_config::Town;
use townhall_wire::hall::{Ask, HallError, Outcome, Refused, Reply, Said, TurnEvent};

const MAYOR: &str = "@mayor:town.test";
const VOX: &str = "@vox:town.test";

#[derive(Default)]
struct Desk {
    town: Option<Arc<Town>>,
    calls: Mutex<Vec<String>>,
    answer: Vec<TurnEvent>,
}

impl Desk {
    fn log(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl Backend for Desk {
    fn town(&self) -> Arc<Town> {
        self.town.clone().unwrap()
    }
    fn store(&self) -> PathBuf {
        PathBuf::from("/nonexistent")
    }
    async fn turn(
        &self,
        ask: super::bot::TurnAsk,
        events: mpsc::Sender<TurnEvent>,
    ) -> Result<Ended, HallError> {
        self.log(format!(
            "turn {} {} {} {}",
            ask.resident, ask.sender, ask.conversation, ask.prompt
        ));
        for e in &self.answer {
            let _ = events.send(e.clone()).await;
        }
        let outcome = Outcome {
            result: "success".into(),
            status: 0,
            stopped: false,
            timed_out: false,
            stderr_tail: vec![],
            duration_ms: 1,
            spent: None,
            conversation_spent: None,
            session: None,
            files: vec![],
            files_left: vec![],
            tools: Default::default(),
            branch: None,
        };
        Ok(Ended::Answered {
            delivery: 7,
            outcome: Box::new(Ok(outcome)),
        })
    }
    async fn delivered(&self, delivery: u64) {
        self.log(format!("delivered {delivery}"));
    }
    async fn stop(&self, _: &str, _: &str) -> Result<u32, HallError> {
        Ok(0)
    }
    async fn resume(&self, _: &str, _: &str) -> Result<(), HallError> {
        Ok(())
    }
    async fn forget_session(&self, _: &str, _: &str, _: &str) -> Result<(), HallError> {
        Ok(())
    }
    async fn status_of(&self, _: &str) -> String {
        String::new()
    }
    async fn session_of(&self, _: &str, _: &str) -> String {
        String::new()
    }
    async fn cost_of(&self, _: &str, _: &str) -> String {
        String::new()
    }
    async fn log_of(&self, _: &str, _: usize) -> String {
        String::new()
    }
    async fn branches_of(&self, _: &str) -> String {
        String::new()
    }
    async fn call(&self, ask: Ask) -> Result<Said, HallError> {
        Err(HallError::Protocol(format!(
            "the desk does not answer {ask:?}"
        )))
    }
    async fn network_of(&self, _: &str, _: &str) -> String {
        String::new()
    }
    async fn reset_report(&self, _: &str, _: Option<&str>) -> Result<String, HallError> {
        Ok(String::new())
    }
    async fn reset(&self, _: &str, _: Option<&str>) -> Result<String, HallError> {
        Ok(String::new())
    }
    async fn checkpoint(&self, _: &str, _: &str, _: &str) -> String {
        String::new()
    }
    async fn checkpoints(
        &self,
        _: &str,
    ) -> Result<Vec<townhall_wire::hall::CheckpointInfo>, HallError> {
        Ok(vec![])
    }
    async fn rollback(&self, _: &str, _: &str, _: u64) -> Result<String, HallError> {
        Ok(String::new())
    }
    async fn schedules(&self, resident: &str, ask: townhall_wire::hall::Ask) -> String {
        self.log(format!("schedules {resident} {ask:?}"));
        String::new()
    }
    fn audit(&self, resident: &str, what: Refused, from: &str, room: &str, _: &str) {
        self.log(format!("audit {resident} {what:?} {from} {room}"));
    }
    async fn file(
        &self,
        resident: &str,
        _: &str,
        _: &str,
        file: &crate::FileRef,
        bytes: Vec<u8>,
    ) -> Result<String, crate::files::NotSaved> {
        self.log(format!(
            "file {resident} {} {} bytes",
            file.name,
            bytes.len()
        ));
        Ok(format!("/agents/{resident}/work/inbox/{}", file.name))
    }
    async fn device(&self, by: &str, c: crate::policy::DeviceCommand, said: mpsc::Sender<String>) {
        let _ = said.send(format!("{by} {c:?}")).await;
    }
    fn reacted(&self, room: &str, target: &str, key: &str, sender: &str) {
        self.log(format!("reacted {room} {target} {key} {sender}"));
    }
    fn chat_health(&self, _: &str, _: String) {}
    fn connected(self: Arc<Self>, _: &str, _: MatrixChat) {}
}

/// The demo town, with vox in ada's allow (so residents may address each other).
fn desk(answer: Vec<TurnEvent>) -> Arc<Desk> {
    let mut town = crate::testing::demo_town();
    let ada = town.residents.iter_mut().find(|r| r.name == "ada").unwrap();
    if !ada.matrix.allow.iter().any(|a| a == VOX) {
        ada.matrix.allow.push(VOX.into());
    }
    Arc::new(Desk {
        town: Some(Arc::new(town)),
        answer,
        ..Default::default()
    })
}

fn said(room: &str, event: &str, sender: &str, ts: u64, body: &str) -> Heard {
    Heard::Message(Message {
        room: room.into(),
        event: event.into(),
        sender: sender.into(),
        ts,
        body: body.into(),
        ..Default::default()
    })
}

fn bot(d: &Arc<Desk>, chat: &FakeChat) -> Bot<Desk, FakeChat> {
    Bot::new(d.clone(), chat.clone(), "ada", Default::default())
}

#[tokio::test(start_paused = true)]
async fn a_strangers_invite_is_left_and_audited_and_a_mayors_joined_after_a_failure() {
    let (d, chat) = (desk(vec![]), FakeChat::default());
    invited(&*d, &chat, "ada", "!eve:t", "@eve:town.test").await;
    assert_eq!(chat.calls.calls(), ["leave !eve:t"]);
    assert_eq!(
        d.calls(),
        ["audit ada InviteDeclined @eve:town.test !eve:t"]
    );
    chat.fail("join", 1);
    invited(&*d, &chat, "ada", "!dm:t", MAYOR).await;
    assert_eq!(
        &chat.calls.calls()[1..],
        [
            "join !dm:t",
            "join !dm:t",
            "levels !dm:t",
            "set_level !dm:t @mayor:town.test 50"
        ],
        "one failed join is retried; then the approvers are raised where the bot may"
    );
}

#[tokio::test]
async fn what_was_said_before_the_join_or_twice_starts_nothing() {
    let (d, chat) = (desk(vec![]), FakeChat::default());
    chat.room("!dm:t", 2, 1000);
    let mut b = bot(&d, &chat);
    assert_eq!(
        b.heard(said("!dm:t", "$old", MAYOR, 999, "from before"))
            .await,
        None
    );
    let job = b
        .heard(said("!dm:t", "$new", MAYOR, 1001, "fix it"))
        .await
        .expect("a job");
    assert_eq!(job.command, Command::Turn("fix it".into()));
    assert_eq!(job.conversation, "!dm:t");
    assert_eq!(
        b.heard(said("!dm:t", "$new", MAYOR, 1001, "fix it")).await,
        None,
        "a resynced event runs once"
    );
}

#[tokio::test]
async fn strangers_are_audited_and_start_nothing() {
    let (d, chat) = (desk(vec![]), FakeChat::default());
    let mut b = bot(&d, &chat);
    assert_eq!(
        b.heard(said("!dm:t", "$e", "@eve:town.test", 1, "rm -rf /"))
            .await,
        None
    );
    assert!(
        d.calls()
            .iter()
            .any(|c| c.starts_with("audit ada MessageIgnored @eve:town.test")),
        "{:?}",
        d.calls()
    );
}

#[tokio::test]
async fn residents_answering_residents_stop_at_the_hop_limit_until_a_human_speaks() {
    let (d, chat) = (desk(vec![]), FakeChat::default());
    chat.room("!shared:t", 3, 0);
    let mut b = bot(&d, &chat);
    let mut jobs = 0;
    for i in 0..HOP_LIMIT + 2 {
        if let Some(j) = b
            .heard(said("!shared:t", &format!("$v{i}"), VOX, 1, "ada: relay"))
            .await
        {
            assert_eq!(
                j.conversation,
                format!("!shared:t/from:{VOX}"),
                "a resident's own conversation"
            );
            jobs += 1;
        }
    }
    assert_eq!(jobs, HOP_LIMIT);
    let stops: Vec<_> = chat
        .calls
        .calls()
        .into_iter()
        .filter(|c| c.contains("Stopping here"))
        .collect();
    assert_eq!(stops.len(), 1, "said once: {stops:?}");
    b.heard(said("!shared:t", "$m", MAYOR, 1, "ada: carry on"))
        .await
        .expect("the mayor is answered");
    assert!(
        b.heard(said("!shared:t", "$v9", VOX, 1, "ada: relay"))
            .await
            .is_some(),
        "a human started a new chain"
    );
}

#[tokio::test]
async fn in_a_room_turned_encrypted_messages_still_run_and_undecryptable_ones_are_told() {
    let (d, chat) = (desk(vec![]), FakeChat::default());
    let mut b = bot(&d, &chat);
    let locked = |event: &str, sender: &str| Heard::Undecryptable {
        room: "!dm:t".into(),
        event: event.into(),
        sender: sender.into(),
        ts: 5,
    };
    assert_eq!(b.heard(locked("$u1", MAYOR)).await, None);
    assert_eq!(b.heard(locked("$u2", "@eve:town.test")).await, None);
    let told: Vec<_> = chat
        .calls
        .calls()
        .into_iter()
        .filter(|c| c.contains("could not decrypt"))
        .collect();
    assert_eq!(
        told.len(),
        1,
        "the mayor is told, a stranger is not: {told:?}"
    );
    assert!(
        b.heard(said("!dm:t", "$ok", MAYOR, 6, "now decrypted"))
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_send_that_fails_leaves_the_answer_unconfirmed_and_one_that_works_confirms_it() {
    let d = desk(vec![TurnEvent::Text {
        text: "hello".into(),
    }]);
    let chat = FakeChat::default();
    let job = |e: &str| Job {
        sender: MAYOR.into(),
        reply: Reply {
            room: "!dm:t".into(),
            thread: None,
            event: e.into(),
        },
        conversation: "!dm:t".into(),
        command: Command::Turn("hi".into()),
        file: None,
    };
    let offers = crate::confirm::Offers::default();
    // The homeserver refuses every send of the first answer (and its typing notices).
    chat.fail("send", 100);
    chat.fail("typing", 100);
    super::act::act(&*d, &chat, "ada", job("$1"), Default::default(), &offers).await;
    chat.heal();
    assert!(
        !d.calls().iter().any(|c| c.starts_with("delivered")),
        "kept by root for the next chat: {:?}",
        d.calls()
    );
    super::act::act(&*d, &chat, "ada", job("$2"), Default::default(), &offers).await;
    assert!(
        d.calls().iter().any(|c| c == "delivered 7"),
        "{:?}",
        d.calls()
    );
    assert!(
        chat.calls.calls().iter().any(|c| c.contains("hello")),
        "{:?}",
        chat.calls.calls()
    );
}
