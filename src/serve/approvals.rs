//! Approvals on root's side: claude's hook (`townhall approve-hook`, as the resident)
//! asks on /run/townhall-approve.sock; a call a rule names is put to the turn's room, and
//! waits for a mayor's decision from the chat (`Ask::Decide`) or the timeout (a no).
//!
//! The socket is open to every uid: the peer's uid says which resident asks, and only its
//! own running turns can ask. Rules are root's copy of the config, never the hook's word.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use super::Daemon;
use super::declined::Declined;
use crate::approve::{self, Answer};
use crate::grant::Acls;
use crate::hall::{Reply, Said};
use crate::machine::Machine;
use crate::units::UserManagers;
use townhall_wire::hall::RoundRule;
use townhall_wire::lines::{self, Rules};

/// Questions one turn may have waiting for a mayor at once, and one resident; and how many
/// a resident may ask a minute. More are denied at once, so a turn that floods its room
/// with questions only fills its own share (the chat's queue is per resident too).
const OPEN_PER_TURN: usize = 3;
const OPEN_PER_RESIDENT: usize = 6;
const PER_MINUTE: usize = 20;

/// A question waiting for a mayor: a tool call's approval, or what an agent asked
/// (`ask_mayor`); they share the caps, so neither floods the room past them.
struct Open {
    resident: String,
    turn: String,
    asked: Asked,
    hook: oneshot::Sender<Decision>,
}

/// What a question is, so that an answer of the wrong kind does not decide it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Asked {
    /// A yes or no (✅/❌): approvals, the gate's hosts, device requests.
    YesNo,
    /// Words: a choice reacted with, or a reply.
    Words,
}

/// How a question was decided: yes or no, by whom, and the words (a reason, or the
/// answer to a question).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Decision {
    pub allow: bool,
    pub by: Option<String>,
    pub reason: String,
    /// A 🔁: the same rule is allowed for the rest of the round.
    pub round: bool,
}

impl Decision {
    fn answer(self) -> Answer {
        answer(self.allow, self.reason)
    }
}

#[derive(Default)]
pub struct Approvals {
    next: AtomicU64,
    /// Asked and not yet decided, by id.
    pending: Mutex<HashMap<u64, Open>>,
    /// When each resident asked, over the last minute.
    asked: Mutex<HashMap<String, std::collections::VecDeque<std::time::Instant>>>,
    /// Where each running conversation's answer goes, for its approvals.
    rooms: Mutex<HashMap<(String, String), Reply>>,
    /// Rules an approver allowed for the rest of a round (🔁).
    pub(super) round: super::allowed::Allowed,
}

/// Why a question was not put to the mayors: a cap on open questions or on their rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Capped {
    #[error(
        "{0} questions of this turn wait for a mayor already (at most {OPEN_PER_TURN}): ask again once one is answered"
    )]
    Turn(usize),
    #[error(
        "{open} of {resident}'s questions wait for a mayor already (at most {OPEN_PER_RESIDENT})"
    )]
    Resident { resident: String, open: usize },
    #[error("{0} asked {PER_MINUTE} questions in the last minute: ask again later")]
    Rate(String),
}

impl Approvals {
    /// A new question of `resident`'s turn `turn`, within the caps; its id, or why not.
    pub(super) fn open(
        &self,
        resident: &str,
        turn: &str,
        kind: Asked,
        hook: oneshot::Sender<Decision>,
    ) -> Result<u64, Capped> {
        let mut pending = self.pending.lock().expect("lock");
        let of_turn = pending.values().filter(|o| o.turn == turn).count();
        if of_turn >= OPEN_PER_TURN {
            return Err(Capped::Turn(of_turn));
        }
        let of_resident = pending.values().filter(|o| o.resident == resident).count();
        if of_resident >= OPEN_PER_RESIDENT {
            return Err(Capped::Resident {
                resident: resident.into(),
                open: of_resident,
            });
        }
        let mut asked = self.asked.lock().expect("lock");
        let recent = asked.entry(resident.to_string()).or_default();
        let now = std::time::Instant::now();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > std::time::Duration::from_secs(60))
        {
            recent.pop_front();
        }
        if recent.len() >= PER_MINUTE {
            return Err(Capped::Rate(resident.into()));
        }
        recent.push_back(now);
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        pending.insert(
            id,
            Open {
                resident: resident.to_string(),
                turn: turn.to_string(),
                asked: kind,
                hook,
            },
        );
        Ok(id)
    }

    /// Question `id`, if it waits, is `resident`'s (when given) and asks for this kind of
    /// answer: no longer waiting.
    fn take(&self, id: u64, resident: Option<&str>, asked: Asked) -> Result<Open, Declined> {
        let mut pending = self.pending.lock().expect("lock");
        match pending.get(&id) {
            Some(o) if o.asked == asked && resident.is_none_or(|r| r == o.resident) => {
                Ok(pending.remove(&id).expect("present"))
            }
            _ => Err(Declined::NotWaiting(id)),
        }
    }

    /// Forget question `id` (it timed out, or its asker went).
    pub(super) fn close(&self, id: u64) {
        self.pending.lock().expect("lock").remove(&id);
    }

    /// The room a running conversation's questions go to, if it runs from chat.
    pub(super) fn room_of(&self, resident: &str, conversation: &str) -> Option<Reply> {
        let key = (resident.to_string(), conversation.to_string());
        self.rooms.lock().expect("lock").get(&key).cloned()
    }

    /// While a conversation's turn runs from chat, its approvals are asked in `reply`'s room.
    pub fn room(&self, resident: &str, conversation: &str, reply: Option<Reply>) {
        let key = (resident.to_string(), conversation.to_string());
        let mut rooms = self.rooms.lock().expect("lock");
        match reply {
            Some(r) => rooms.insert(key, r),
            None => rooms.remove(&key),
        };
    }
}

/// What a mayor is asked: in `reply`'s room, about turn `turn` of the resident's.
pub(super) struct Question<'a> {
    pub turn: &'a str,
    pub reply: Reply,
    pub tool: &'a str,
    pub subject: String,
    pub rule: String,
    /// A 🔁 may allow `rule` for the rest of the round (tool calls; a host or a device
    /// is asked for once per round or lease anyway).
    pub round: bool,
}

/// Connections one uid may hold on the approvals socket: a turn's hook asks one call at a
/// time, and a resident runs a few conversations at once.
const APPROVALS_PER_UID: usize = 16;

fn answer(allow: bool, reason: impl Into<String>) -> Answer {
    Answer {
        allow,
        reason: reason.into(),
    }
}

/// A resident's socket: every uid may connect (the peer's uid says who asks), `per_uid`
/// connections each, one line of at most `max_line`, and a peer that hangs up is noticed.
pub(super) fn open_to_every_uid(name: &'static str, per_uid: usize, max_line: usize) -> Rules {
    Rules {
        name,
        permit: Box::new(|_| true),
        per_uid: Box::new(move |_| per_uid),
        refused: "",
        max_line,
        watch_peer: true,
    }
}

fn parse(line: &str) -> serde_json::Result<approve::Ask> {
    serde_json::from_str(line)
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) async fn serve_approvals(self: Arc<Self>, listener: tokio::net::UnixListener) {
        let rules = open_to_every_uid(
            "the approvals socket",
            APPROVALS_PER_UID,
            approve::MAX_ASK + 1024,
        );
        lines::serve(
            listener,
            Arc::new(rules),
            parse,
            move |ask: approve::Ask, uid, out: mpsc::Sender<Answer>| {
                let daemon = self.clone();
                async move {
                    let a = daemon.approval(ask, uid, &out).await;
                    let _ = out.send(a).await;
                }
            },
        )
        .await
    }

    async fn approval(&self, ask: approve::Ask, uid: u32, hook: &mpsc::Sender<Answer>) -> Answer {
        let town = self.town();
        let Some(r) = town.residents.iter().find(|r| r.uid == uid) else {
            return answer(false, format!("denied: uid {uid} is not a resident"));
        };
        let Some(turn) = self
            .desk
            .running()
            .into_iter()
            .find(|t| t.resident == r.name && t.unit == ask.turn)
        else {
            return answer(
                false,
                format!("denied: {} has no running turn {:.80}", r.name, ask.turn),
            );
        };
        let Some(rule) = approve::needs(&r.agent.approve, &ask.tool, &ask.input) else {
            return answer(true, "no approval rule names this call");
        };
        let rule = rule.to_string();
        let subject =
            crate::turn::bounds::clip(&approve::subject(&ask.tool, &ask.input), 2000).to_string();
        let round = crate::round::RoundState::new(&town.state)
            .round_of(&r.name)
            .ok();
        if let Some(by) = round.and_then(|n| self.approvals.round.by(&r.name, n, &rule)) {
            let a = answer(true, format!("{rule} is allowed for this round by {by}"));
            self.audit_approval("approval-decided", &r.name, &ask.tool, &subject, Some(&a));
            return a;
        }
        let Some(reply) = self.approvals.room_of(&r.name, &turn.conversation) else {
            return answer(
                false,
                format!(
                    "denied: {rule} needs a mayor's approval, and this turn has no room to ask in"
                ),
            );
        };
        let question = Question {
            turn: &ask.turn,
            reply,
            tool: &ask.tool,
            subject,
            rule: rule.clone(),
            round: true,
        };
        let d = self.ask_mayor(r, question, hook.closed()).await;
        if let (true, Some(n), Some(by)) = (d.allow && d.round, round, &d.by) {
            self.approvals.round.allow(&r.name, n, &rule, by);
        }
        d.answer()
    }

    /// Put `q` to the mayors in its room and wait for a reaction, the resident's timeout, or
    /// `gone` (the asker went away): the answer, which is no unless a mayor said yes.
    pub(super) async fn ask_mayor(
        &self,
        r: &crate::config::Resident,
        q: Question<'_>,
        gone: impl std::future::Future<Output = ()>,
    ) -> Decision {
        let no = |reason: String| Decision {
            allow: false,
            by: None,
            reason,
            round: false,
        };
        let (tx, rx) = oneshot::channel();
        let id = match self.approvals.open(&r.name, q.turn, Asked::YesNo, tx) {
            Ok(id) => id,
            Err(why) => {
                tracing::warn!(resident = %r.name, "an approval denied at once: {why}");
                return no(format!("denied: {why}"));
            }
        };
        let wait = r.agent.approve_timeout;
        let asked = Said::Approval {
            id,
            resident: r.name.clone(),
            room: q.reply.room,
            thread: q.reply.thread,
            tool: q.tool.to_string(),
            subject: q.subject.clone(),
            rule: q.rule.clone(),
            wait_secs: wait.as_secs(),
            approvers: self.town().approvers(r).to_vec(),
            round: q.round,
        };
        self.audit_approval("approval-asked", &r.name, q.tool, &q.subject, None);
        if !self.broadcast(asked) {
            self.approvals.close(id);
            return no(format!(
                "denied: {} needs a mayor's approval, and the chat is not connected",
                q.rule
            ));
        }
        self.doing.waiting(&r.name, true);
        self.tell_doing(&r.name);
        let decided = tokio::select! {
            d = tokio::time::timeout(wait, rx) => d.ok().and_then(Result::ok),
            () = gone => None,
        };
        self.doing.waiting(&r.name, false);
        self.tell_doing(&r.name);
        self.approvals.close(id);
        let mut a = decided.unwrap_or_else(|| {
            no(format!(
                "denied: no one who approves answered within {}",
                humantime::format_duration(wait)
            ))
        });
        a.round &= q.round;
        self.audit_approval(
            "approval-decided",
            &r.name,
            q.tool,
            &q.subject,
            Some(&answer(a.allow, a.reason.clone())),
        );
        self.broadcast(Said::ApprovalEnded {
            id,
            resident: r.name.clone(),
            allow: a.allow,
            reason: a.reason.clone(),
        });
        a
    }

    /// An approver's reaction, as the chat reports it (`by` is validated as one of
    /// `resident`'s approvers).
    pub(super) fn decide(
        &self,
        id: u64,
        resident: &str,
        by: &str,
        allow: bool,
        round: bool,
    ) -> Result<(), Declined> {
        let open = self.approvals.take(id, Some(resident), Asked::YesNo)?;
        let how = match (allow, round) {
            (true, true) => "allowed for the rest of the round",
            (true, false) => "allowed",
            (false, _) => "denied",
        };
        let _ = open.hook.send(Decision {
            allow,
            by: Some(by.into()),
            reason: format!("{how} by {by}"),
            round: allow && round,
        });
        Ok(())
    }

    /// What `resident`'s approvers allowed for its round, after taking it back (`clear`).
    pub(super) fn round_rules(&self, resident: &str, clear: bool) -> Vec<RoundRule> {
        if clear {
            self.approvals.round.clear(resident);
            tracing::info!(%resident, "the rules allowed for the round were taken back");
        }
        let town = self.town();
        match crate::round::RoundState::new(&town.state).round_of(resident) {
            Ok(n) => self.approvals.round.rules(resident, n),
            Err(_) => Vec::new(),
        }
    }

    /// An answer to resident `resident`'s question `id`, as the chat reports it (`by` is
    /// validated as someone the resident takes commands from).
    pub(super) fn answered(
        &self,
        id: u64,
        resident: &str,
        by: &str,
        words: String,
    ) -> Result<(), Declined> {
        let open = self.approvals.take(id, Some(resident), Asked::Words)?;
        let _ = open.hook.send(Decision {
            allow: true,
            by: Some(by.into()),
            reason: words,
            round: false,
        });
        Ok(())
    }

    fn audit_approval(
        &self,
        event: &str,
        resident: &str,
        tool: &str,
        subject: &str,
        a: Option<&Answer>,
    ) {
        let detail = serde_json::json!({ "resident": resident, "tool": tool, "subject": subject, "allow": a.map(|a| a.allow), "reason": a.map(|a| &a.reason) });
        if let Err(e) = crate::audit::append(&self.town().state, event, &detail) {
            tracing::warn!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_and_a_resident_hold_only_their_share_of_questions() {
        let a = Approvals::default();
        let ask = |who: &str, turn: &str| a.open(who, turn, Asked::YesNo, oneshot::channel().0);
        let ids: Vec<u64> = (0..OPEN_PER_TURN)
            .map(|_| ask("ada", "t1").unwrap())
            .collect();
        assert_eq!(ask("ada", "t1"), Err(Capped::Turn(OPEN_PER_TURN)));
        assert!(
            ask("vox", "t9").is_ok(),
            "another resident's question goes through"
        );
        for _ in OPEN_PER_TURN..OPEN_PER_RESIDENT {
            ask("ada", "t2").unwrap();
        }
        assert_eq!(
            ask("ada", "t3"),
            Err(Capped::Resident {
                resident: "ada".into(),
                open: OPEN_PER_RESIDENT
            })
        );
        a.pending.lock().unwrap().retain(|id, _| !ids.contains(id));
        // The rate: what is left of the minute's 20.
        let asked_so_far = OPEN_PER_RESIDENT;
        a.pending.lock().unwrap().clear();
        for _ in asked_so_far..PER_MINUTE {
            let id = ask("ada", "t4").unwrap();
            a.pending.lock().unwrap().remove(&id);
        }
        assert_eq!(ask("ada", "t4"), Err(Capped::Rate("ada".into())));
    }
}
