//! Town events into turns: a push the town remote accepted starts the `[[on]] push` turns
//! of the residents that wait for it, and a device udev adds that a resident is granted
//! starts its `[[on]] device` turns, each in the room it names. The pairwise `allow` holds
//! (vox reacts to ada's pushes only where vox's file allows ada's Matrix ID), and so does
//! the hop limit: past HOP_LIMIT such turns in a row in a room with no mayor speaking
//! there, the next is not started and the room is told.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Daemon;
use super::asker::Asker;
use crate::config::Town;
use crate::grant::Acls;
use crate::hall::{Came, HOP_LIMIT, Notice};
use crate::machine::Machine;
use crate::turn::conversation::{Batch, Key, Message, Waiting};
use crate::units::UserManagers;

/// Turns started by residents' doings in a row, per room, since a mayor last spoke there.
#[derive(Default)]
pub struct Hops(Mutex<HashMap<String, u32>>);

impl Hops {
    /// One more in `room`: its count now, or None past the limit (not counted).
    fn take(&self, room: &str) -> Result<u32, u32> {
        let mut hops = self.0.lock().expect("lock");
        let n = hops.entry(room.to_string()).or_default();
        if *n >= HOP_LIMIT {
            return Err(*n);
        }
        *n += 1;
        Ok(*n)
    }

    /// A mayor spoke in `room`: the chain starts again.
    pub fn mayor_spoke(&self, room: &str) {
        self.0.lock().expect("lock").remove(room);
    }
}

/// Each turn a push starts: the resident, its conversation and its message.
fn push_turns(town: &Town, pusher: &str, n: &Notice) -> Vec<(Key, Waiting)> {
    let Notice::Pushed {
        path,
        refname,
        commits,
        ..
    } = n
    else {
        return vec![];
    };
    let (Some(branch), Some(p)) = (refname.strip_prefix("refs/heads/"), town.resident(pusher))
    else {
        return vec![];
    };
    let fetch = format!("git fetch {path} {refname}");
    let mut out = vec![];
    for r in town.residents.iter().filter(|r| r.name != pusher) {
        for e in r.events.iter().filter(|e| e.on_push(pusher, branch)) {
            if !r.matrix.allow.contains(&p.matrix.user) {
                tracing::info!(resident = %r.name, %pusher, "a push it waits for, but its allow does not name the pusher: no turn");
                continue;
            }
            let prompt = e.prompt_with(&[
                ("pusher", pusher),
                ("branch", branch),
                ("commits", commits),
                ("fetch", &fetch),
            ]);
            let came = Came::Event {
                what: format!("{pusher} pushed `{branch}`"),
            };
            let w = Waiting::unasked(p.matrix.user.clone(), prompt, e.room.clone(), came);
            // A resident's doings never join the mayor's conversation, as in chat.
            let conversation = format!("{}/from:{}", e.room, p.matrix.user);
            out.push(((r.name.clone(), conversation), w));
        }
    }
    out
}

/// Each turn a device granted to `resident` as udev added it starts.
fn device_turns(town: &Town, resident: &str, devnode: &std::path::Path) -> Vec<(Key, Waiting)> {
    let (Some(r), Some(kernel)) = (
        town.resident(resident),
        devnode.file_name().and_then(|n| n.to_str()),
    ) else {
        return vec![];
    };
    let device = devnode.display().to_string();
    r.events
        .iter()
        .filter(|e| e.on_device(kernel))
        .map(|e| {
            let came = Came::Event {
                what: format!("{device} appeared"),
            };
            let prompt = e.prompt_with(&[("device", &device)]);
            let w = Waiting::unasked(format!("device {device}"), prompt, e.room.clone(), came);
            ((r.name.clone(), format!("{}/devices", e.room)), w)
        })
        .collect()
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// A push `pusher` made was accepted (one notice per ref): start the turns that wait
    /// for it. Called on the push's own thread, so each message is in its conversation
    /// before the push returns; the turns run on the runtime.
    pub(super) fn pushed(self: &Arc<Self>, pusher: &str, notices: &[Notice]) {
        let town = self.town();
        for n in notices {
            for (key, w) in push_turns(&town, pusher, n) {
                if let Some(batch) = self.event_arrives(key.clone(), w) {
                    let d = self.clone();
                    tokio::spawn(async move { d.run_lane(&key, batch).await });
                }
            }
        }
    }

    /// Devices udev added and granted (`changes`): the `[[on]] device` turns they start,
    /// handed to the task that runs them (the watcher holds no handle on the daemon).
    pub(super) fn appeared(&self, town: &Town, changes: &[crate::grant::Change]) {
        for c in changes {
            let crate::grant::Change::Granted {
                devnode, resident, ..
            } = c
            else {
                continue;
            };
            for (key, w) in device_turns(town, resident, devnode) {
                if let Some(batch) = self.event_arrives(key.clone(), w) {
                    let _ = self.event_turns.send((key, batch));
                }
            }
        }
    }

    /// An event's message into its conversation, within the hop limit: its batch when the
    /// conversation was idle.
    fn event_arrives(&self, key: Key, w: Waiting) -> Option<Batch<Asker>> {
        let room = w.reply.room.clone();
        if let Err(hops) = self.hops.take(&room) {
            tracing::warn!(resident = %key.0, %room, hops, "the hop limit stopped an event's turn");
            self.teller
                .tell(&key.0, Notice::EventsStopped { room, hops });
            return None;
        }
        tracing::info!(resident = %key.0, conversation = %key.1, "a town event starts a turn");
        self.conversations.arrive_unasked(key, Message::Chat(w))
    }

    /// Run the turns events handed over, for as long as the daemon runs.
    pub(super) async fn run_event_turns(
        self: Arc<Self>,
        mut turns: tokio::sync::mpsc::UnboundedReceiver<(Key, Batch<Asker>)>,
    ) {
        while let Some((key, batch)) = turns.recv().await {
            let d = self.clone();
            tokio::spawn(async move { d.run_lane(&key, batch).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::events::{Happening, OnEvent};

    fn pushed(refname: &str) -> Notice {
        Notice::Pushed {
            pusher: "ada".into(),
            repo: "work".into(),
            path: "/srv/townhall/git/work.git".into(),
            refname: refname.into(),
            commits: "2".into(),
            stat: "1 file".into(),
        }
    }

    #[test]
    fn a_push_starts_the_turns_of_those_who_wait_for_it_and_allow_the_pusher() {
        let mut town = crate::testing::demo_town();
        let vox = town.residents.iter_mut().find(|r| r.name == "vox").unwrap();
        vox.events = vec![OnEvent {
            when: Happening::Push {
                resident: "ada".into(),
                branches: "ada/*".into(),
            },
            prompt: "review {branch}: {fetch}".into(),
            room: "!lab:t".into(),
        }];
        assert!(
            push_turns(&town, "ada", &pushed("refs/heads/ada/f")).is_empty(),
            "vox's allow does not name ada"
        );
        let vox = town.residents.iter_mut().find(|r| r.name == "vox").unwrap();
        vox.matrix.allow = vec!["@ada:town.test".into()];
        let turns = push_turns(&town, "ada", &pushed("refs/heads/ada/f"));
        assert_eq!(turns.len(), 1);
        let ((resident, conversation), w) = &turns[0];
        assert_eq!(
            (resident.as_str(), conversation.as_str()),
            ("vox", "!lab:t/from:@ada:town.test")
        );
        assert_eq!(
            w.prompt,
            "review ada/f: git fetch /srv/townhall/git/work.git refs/heads/ada/f"
        );
        assert!(push_turns(&town, "ada", &pushed("refs/tags/v1")).is_empty());
        assert!(push_turns(&town, "ada", &pushed("refs/heads/main")).is_empty());
        assert!(push_turns(&town, "vox", &pushed("refs/heads/ada/f")).is_empty());
    }

    #[test]
    fn a_device_added_starts_the_turns_of_its_resident_that_wait_for_its_name() {
        let mut town = crate::testing::demo_town();
        let ada = town.residents.iter_mut().find(|r| r.name == "ada").unwrap();
        ada.events = vec![OnEvent {
            when: Happening::Device {
                kernel: "ttyUSB*".into(),
            },
            prompt: "flash the board on {device}".into(),
            room: "!bench:t".into(),
        }];
        let node = std::path::Path::new("/dev/ttyUSB0");
        let turns = device_turns(&town, "ada", node);
        assert_eq!(turns.len(), 1);
        assert_eq!(turns[0].0, ("ada".into(), "!bench:t/devices".into()));
        assert_eq!(turns[0].1.prompt, "flash the board on /dev/ttyUSB0");
        assert!(device_turns(&town, "ada", std::path::Path::new("/dev/ttyS0")).is_empty());
        assert!(device_turns(&town, "vox", node).is_empty());
    }

    #[test]
    fn past_the_hop_limit_a_room_starts_nothing_until_a_mayor_speaks() {
        let hops = Hops::default();
        for n in 1..=HOP_LIMIT {
            assert_eq!(hops.take("!r"), Ok(n));
        }
        assert_eq!(hops.take("!r"), Err(HOP_LIMIT));
        assert_eq!(hops.take("!other"), Ok(1));
        hops.mayor_spoke("!r");
        assert_eq!(hops.take("!r"), Ok(1));
    }
}
