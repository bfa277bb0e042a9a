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
use crate::approve::{self, Answer};
use crate::control::lines::{self, Rules};
use crate::grant::Acls;
use crate::hall::{Reply, Said};
use crate::resident::Accounts;
use crate::units::UserManagers;

#[derive(Default)]
pub struct Approvals {
    next: AtomicU64,
    /// Asked and not yet decided: id → resident, and the waiting hook.
    pending: Mutex<HashMap<u64, (String, oneshot::Sender<Answer>)>>,
    /// Where each running conversation's answer goes, for its approvals.
    rooms: Mutex<HashMap<(String, String), Reply>>,
}

impl Approvals {
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

/// Connections one uid may hold on the approvals socket: a turn's hook asks one call at a
/// time, and a resident runs a few conversations at once.
const APPROVALS_PER_UID: usize = 16;

fn answer(allow: bool, reason: impl Into<String>) -> Answer {
    Answer { allow, reason: reason.into() }
}

fn parse(line: &str) -> Result<approve::Ask, String> {
    serde_json::from_str(line).map_err(|e| e.to_string())
}

impl<A, M, G> Daemon<A, M, G>
where
    A: Accounts + Send + Sync + 'static,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) async fn serve_approvals(self: Arc<Self>, listener: tokio::net::UnixListener) {
        let rules = Rules {
            name: "the approvals socket",
            permit: Box::new(|_| true),
            per_uid: Box::new(|_| APPROVALS_PER_UID),
            refused: "",
            max_line: approve::MAX_ASK + 1024,
            watch_peer: true,
        };
        lines::serve(listener, Arc::new(rules), parse, move |ask: approve::Ask, uid, out: mpsc::Sender<Answer>| {
            let daemon = self.clone();
            async move {
                let a = daemon.approval(ask, uid, &out).await;
                let _ = out.send(a).await;
            }
        })
        .await
    }

    async fn approval(&self, ask: approve::Ask, uid: u32, hook: &mpsc::Sender<Answer>) -> Answer {
        let town = self.town();
        let Some(r) = town.residents.iter().find(|r| r.uid == uid) else {
            return answer(false, format!("denied: uid {uid} is not a resident"));
        };
        let Some(turn) = self.desk.running().into_iter().find(|t| t.resident == r.name && t.unit == ask.turn) else {
            return answer(false, format!("denied: {} has no running turn {:.80}", r.name, ask.turn));
        };
        let Some(rule) = approve::needs(&r.agent.approve, &ask.tool, &ask.input) else {
            return answer(true, "no approval rule names this call");
        };
        let rule = rule.to_string();
        let reply = self.approvals.rooms.lock().expect("lock").get(&(r.name.clone(), turn.conversation.clone())).cloned();
        let Some(reply) = reply else {
            return answer(false, format!("denied: {rule} needs a mayor's approval, and this turn has no room to ask in"));
        };
        let id = self.approvals.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        self.approvals.pending.lock().expect("lock").insert(id, (r.name.clone(), tx));
        let subject = crate::turn::bounds::clip(&approve::subject(&ask.tool, &ask.input), 2000).to_string();
        let wait = r.agent.approve_timeout;
        let asked = Said::Approval { id, resident: r.name.clone(), room: reply.room, thread: reply.thread, tool: ask.tool.clone(), subject: subject.clone(), rule: rule.clone(), wait_secs: wait.as_secs() };
        self.audit_approval("approval-asked", &r.name, &ask.tool, &subject, None);
        if !self.broadcast(asked) {
            self.approvals.pending.lock().expect("lock").remove(&id);
            return answer(false, format!("denied: {rule} needs a mayor's approval, and the chat is not connected"));
        }
        let decided = tokio::select! {
            d = tokio::time::timeout(wait, rx) => d.ok().and_then(Result::ok),
            () = hook.closed() => None,
        };
        self.approvals.pending.lock().expect("lock").remove(&id);
        let a = decided.unwrap_or_else(|| answer(false, format!("denied: no mayor answered within {}", humantime::format_duration(wait))));
        self.audit_approval("approval-decided", &r.name, &ask.tool, &subject, Some(&a));
        self.broadcast(Said::ApprovalEnded { id, resident: r.name.clone(), allow: a.allow, reason: a.reason.clone() });
        a
    }

    /// A mayor's reaction, as the chat reports it (`by` is validated as a mayor).
    pub(super) fn decide(&self, id: u64, by: &str, allow: bool) -> Result<(), String> {
        let (_, tx) = self.approvals.pending.lock().expect("lock").remove(&id).ok_or(format!("approval {id} is not waiting (decided, or timed out)"))?;
        let _ = tx.send(answer(allow, format!("{} by {by}", if allow { "allowed" } else { "denied" })));
        Ok(())
    }

    fn audit_approval(&self, event: &str, resident: &str, tool: &str, subject: &str, a: Option<&Answer>) {
        let detail = serde_json::json!({ "resident": resident, "tool": tool, "subject": subject, "allow": a.map(|a| a.allow), "reason": a.map(|a| &a.reason) });
        if let Err(e) = crate::audit::append(&self.town().state, event, &detail) {
            tracing::warn!("{e}");
        }
    }
}
