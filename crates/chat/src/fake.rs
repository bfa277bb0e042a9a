//! The recording fake of this seam (FakeChat, FakeRooms), compiled for tests only.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use townhall_os::Recorder;

use super::*;

/// A recording Chat: syncs hand out what `hear` queued; `fail("send", n)` makes the next n
/// sends fail.
#[derive(Debug, Clone, Default)]
pub struct FakeChat(Arc<FakeRooms>);

#[derive(Debug, Default)]
pub struct FakeRooms {
    pub calls: Recorder,
    syncs: Mutex<VecDeque<Vec<Heard>>>,
    members: Mutex<HashMap<String, usize>>,
    joined: Mutex<HashMap<String, u64>>,
    failing: Mutex<Vec<&'static str>>,
}

impl std::ops::Deref for FakeChat {
    type Target = FakeRooms;
    fn deref(&self) -> &FakeRooms {
        &self.0
    }
}

impl FakeChat {
    pub fn hear(&self, heard: Vec<Heard>) {
        self.syncs.lock().expect("lock").push_back(heard);
    }
    pub fn room(&self, room: &str, members: usize, joined_at: u64) {
        self.members
            .lock()
            .expect("lock")
            .insert(room.into(), members);
        self.joined
            .lock()
            .expect("lock")
            .insert(room.into(), joined_at);
    }
    pub fn fail(&self, op: &'static str, times: usize) {
        self.failing
            .lock()
            .expect("lock")
            .extend(std::iter::repeat_n(op, times));
    }
    /// Every operation works again.
    pub fn heal(&self) {
        self.failing.lock().expect("lock").clear();
    }
    fn check(&self, op: &'static str, call: String) -> Result<(), OsError> {
        self.calls.record(call.clone());
        let mut f = self.failing.lock().expect("lock");
        match f.iter().position(|o| *o == op) {
            Some(i) => {
                f.remove(i);
                Err(OsError::new(call, "told to fail"))
            }
            None => Ok(()),
        }
    }
}

impl Chat for FakeChat {
    async fn sync(&self, _wait: std::time::Duration) -> Result<Vec<Heard>, OsError> {
        self.check("sync", "sync".into())?;
        Ok(self
            .syncs
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or_default())
    }

    async fn join(&self, room: &str) -> Result<(), OsError> {
        self.check("join", format!("join {room}"))
    }

    async fn leave(&self, room: &str) -> Result<(), OsError> {
        self.check("leave", format!("leave {room}"))
    }

    async fn members(&self, room: &str) -> Result<usize, OsError> {
        Ok(self
            .members
            .lock()
            .expect("lock")
            .get(room)
            .copied()
            .unwrap_or(2))
    }

    async fn joined_at(&self, room: &str) -> Option<u64> {
        self.joined.lock().expect("lock").get(room).copied()
    }

    async fn send(
        &self,
        room: &str,
        thread: Option<&str>,
        markdown: &str,
    ) -> Result<String, OsError> {
        let thread = thread.map(|t| format!(" thread={t}")).unwrap_or_default();
        self.check("send", format!("send {room}{thread} {markdown}"))?;
        Ok(format!("$event{}", self.calls.calls().len()))
    }

    async fn send_mentioning(
        &self,
        room: &str,
        thread: Option<&str>,
        markdown: &str,
        users: &[String],
    ) -> Result<String, OsError> {
        let thread = thread.map(|t| format!(" thread={t}")).unwrap_or_default();
        let users = users.join(",");
        self.check(
            "send",
            format!("send {room}{thread} mentioning {users} {markdown}"),
        )?;
        Ok(format!("$event{}", self.calls.calls().len()))
    }

    async fn edit(&self, room: &str, event: &str, markdown: &str) -> Result<(), OsError> {
        self.check("edit", format!("edit {room} {event} {markdown}"))
    }

    async fn typing(&self, room: &str, on: bool) -> Result<(), OsError> {
        self.check("typing", format!("typing {room} {on}"))
    }

    async fn react(&self, room: &str, event: &str, key: &str) -> Result<(), OsError> {
        self.check("react", format!("react {room} {event} {key}"))
    }

    async fn presence(&self, status: &str) -> Result<(), OsError> {
        self.check("presence", format!("presence {status}"))
    }

    /// The bot may change levels, holds 100, everyone else 0.
    async fn levels(&self, room: &str, users: &[String]) -> Result<roles::Levels, OsError> {
        self.check("levels", format!("levels {room}"))?;
        Ok(roles::Levels {
            may_change: true,
            mine: Some(100),
            users: users.iter().map(|u| (u.clone(), Some(0))).collect(),
        })
    }

    async fn set_level(&self, room: &str, users: &[String], level: i64) -> Result<(), OsError> {
        let users = users.join(",");
        self.check("set_level", format!("set_level {room} {users} {level}"))
    }

    /// The source's text, as the bytes.
    async fn download(&self, file: &FileRef) -> Result<Vec<u8>, OsError> {
        self.check("download", format!("download {}", file.name))?;
        Ok(file.source.clone().into_bytes())
    }

    async fn upload(
        &self,
        room: &str,
        thread: Option<&str>,
        name: &str,
        mimetype: &str,
        bytes: Vec<u8>,
    ) -> Result<String, OsError> {
        let thread = thread.map(|t| format!(" thread={t}")).unwrap_or_default();
        self.check(
            "upload",
            format!(
                "upload {room}{thread} {name} {mimetype} {} bytes",
                bytes.len()
            ),
        )?;
        Ok(format!("$event{}", self.calls.calls().len()))
    }
}
