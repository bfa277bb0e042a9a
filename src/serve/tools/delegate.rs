//! `ask_resident`: a turn for another resident, asked by an agent mid-turn. Allowed only
//! where the target's `[matrix] allow` names the asker's Matrix user (the pairwise rule the
//! chat keeps in rooms). The turn runs in a conversation of the target's own for that
//! asker and depth (`town-ask:ASKER:DEPTH`): its session remembers earlier asks, and a
//! chain of asks never waits behind a lane it holds itself. A chain stops at HOP_LIMIT.
//! The mayor sees the ask and the answer in the target's first declared room; a target
//! with none is not asked, so no ask runs unseen.

use tokio::sync::mpsc;

use super::super::Daemon;
use super::super::asker::Asker;
use crate::control::Response;
use crate::grant::Acls;
use crate::hall::{HOP_LIMIT, Reply, Said};
use crate::machine::Machine;
use crate::tools::Answer;
use crate::turn::conversation::Message;
use crate::turn::{RunningTurn, TurnEvent};
use crate::units::UserManagers;

const PREFIX: &str = "town-ask:";
/// What of the answer is said in the target's room, and returned to the asker.
const MAX_SHOWN: usize = 8000;
const MAX_RETURNED: usize = 64 * 1024;

/// How deep in a chain of asks a turn of `conversation` is: 0 unless an ask started it.
pub fn depth(conversation: &str) -> u32 {
    conversation
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.rsplit_once(':'))
        .and_then(|(_, d)| d.parse().ok())
        .unwrap_or(0)
}

fn conversation(asker: &str, depth: u32) -> String {
    format!("{PREFIX}{asker}:{depth}")
}

/// Whether `target` takes asks from `asker`, or why not.
pub fn allowed(
    asker: &crate::config::Resident,
    target: &crate::config::Resident,
    depth: u32,
) -> Result<(), String> {
    if asker.name == target.name {
        return Err("you cannot ask yourself".into());
    }
    if !target.matrix.allow.contains(&asker.matrix.user) {
        return Err(format!(
            "{} does not take asks from {}: its [matrix] allow does not name {} (the mayor decides that in residents/{}.toml)",
            target.name, asker.name, asker.matrix.user, target.name
        ));
    }
    // The mayor sees every ask: a resident with no room to show it in is not asked.
    if !target.rooms.iter().any(|room| room.starts_with('!')) {
        return Err(format!(
            "{} has no declared room for the mayor to see the ask in (rooms = [\"!…\"] in residents/{}.toml)",
            target.name, target.name
        ));
    }
    if depth > HOP_LIMIT {
        return Err(format!(
            "the hop limit ({HOP_LIMIT}) is reached: residents have asked residents {} times in a row. Answer with what you have",
            depth - 1
        ));
    }
    Ok(())
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) async fn ask_resident(
        &self,
        r: &crate::config::Resident,
        turn: &RunningTurn,
        name: &str,
        message: &str,
    ) -> Answer {
        let town = self.town();
        let Some(target) = town.resident(name) else {
            return Answer::refused(format!(
                "refused: there is no resident named {name:?} in this town"
            ));
        };
        let depth = depth(&turn.conversation) + 1;
        if let Err(why) = allowed(r, target, depth) {
            return Answer::refused(format!("refused: {why}"));
        }
        let conv = conversation(&r.name, depth);
        let room = target.rooms.iter().find(|x| x.starts_with('!')).cloned();
        let say = |text: String| {
            if let Some(room) = &room {
                self.broadcast(Said::Told {
                    resident: target.name.clone(),
                    room: room.clone(),
                    thread: None,
                    text,
                });
            }
        };
        say(format!(
            "**{} asks {}** (through the town's tools):\n\n{}",
            r.name,
            target.name,
            crate::turn::bounds::clip(message, MAX_SHOWN)
        ));
        // The target's own tools speak in that room while it answers.
        let reply = room.clone().map(|room| Reply {
            room,
            thread: None,
            event: String::new(),
        });
        self.approvals.room(&target.name, &conv, reply);
        let prompt = format!(
            "{} (another resident of this town, not the mayor) asks you through the town's ask_resident tool; your answer is returned to it:\n\n{message}",
            r.name
        );
        let (tx, mut rx) = mpsc::channel(64);
        let key = (target.name.clone(), conv.clone());
        let collect = async {
            let (mut text, mut last) = (String::new(), None);
            while let Some(res) = rx.recv().await {
                match res {
                    Response::Event(TurnEvent::Text { text: t }) => text.push_str(&t),
                    Response::Event(TurnEvent::Final { text: t }) => last = Some(t),
                    Response::TurnDone(o) if o.result == "success" => {
                        let said = if text.trim().is_empty() {
                            last.take().unwrap_or_default()
                        } else {
                            std::mem::take(&mut text)
                        };
                        return Ok(said);
                    }
                    Response::TurnDone(o) => {
                        return Err(format!("its turn ended without an answer ({})", o.result));
                    }
                    Response::Error { message } => return Err(message),
                    _ => {}
                }
            }
            Err("its turn was interrupted".to_string())
        };
        // The lane runs to its end either way: a conversation is never left half-taken.
        let ((), answered) = tokio::join!(
            self.ask(
                key,
                Message::Cli {
                    prompt,
                    fresh: false
                },
                Asker::Cli(tx)
            ),
            collect
        );
        self.approvals.room(&target.name, &conv, None);
        match answered {
            Ok(said) => {
                say(format!(
                    "{}\n\n_answered {}'s ask_",
                    crate::turn::bounds::clip(&said, MAX_SHOWN),
                    r.name
                ));
                Answer::ok(format!(
                    "{} answered:\n\n{}",
                    target.name,
                    crate::turn::bounds::clip(&said, MAX_RETURNED)
                ))
            }
            Err(why) => {
                say(format!("_{}'s ask was not answered: {why}_", r.name));
                Answer::refused(format!("no answer from {}: {why}", target.name))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_of_asks_knows_its_depth_from_its_conversation() {
        assert_eq!(depth("!room:town.test"), 0);
        assert_eq!(depth(&conversation("ada", 1)), 1);
        assert_eq!(depth(&conversation("vox", 3)), 3);
        assert_eq!(depth("town-ask:ada:x"), 0);
    }

    #[test]
    fn only_a_resident_that_allows_the_asker_is_asked_and_a_chain_stops_at_the_limit() {
        let town = crate::testing::demo_town();
        let (ada, vox) = (
            town.resident("ada").unwrap().clone(),
            town.resident("vox").unwrap().clone(),
        );
        let mut open = vox.clone();
        open.matrix.allow = vec![ada.matrix.user.clone()];
        open.rooms = vec![];
        let unseen = allowed(&ada, &open, 1).unwrap_err();
        assert!(unseen.contains("no declared room"), "{unseen}");
        open.rooms = vec!["!room:town.test".into()];
        assert!(allowed(&ada, &open, 1).is_ok());
        assert!(allowed(&ada, &open, HOP_LIMIT).is_ok());
        let too_deep = allowed(&ada, &open, HOP_LIMIT + 1).unwrap_err();
        assert!(too_deep.contains("hop limit"), "{too_deep}");
        let closed = allowed(&vox, &ada, 1).unwrap_err();
        assert!(
            closed.contains("does not take asks from vox") && closed.contains("@vox:town.test"),
            "{closed}"
        );
        assert!(allowed(&ada, &ada, 1).unwrap_err().contains("yourself"));
    }
}
