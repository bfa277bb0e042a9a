//! The town's tools on root's side: `townhall mcp` (as a resident, inside a turn) asks on
//! /run/townhall-tools.sock. The socket is open to every uid; the peer's uid says which
//! resident asks and the token which of its running turns, so a process outside a turn, a
//! stale token, or another resident's token gets nothing. Every field is checked again
//! here (check.rs) before anything is said to a room.

mod ask;
mod check;
mod delegate;
mod device;
mod send;
mod tell;
mod view;

use std::sync::Arc;

use tokio::sync::mpsc;

use super::Daemon;
use crate::grant::Acls;
use crate::machine::Machine;
use crate::tools::{Answer, Call, MAX_CALL, Tool};
use crate::turn::RunningTurn;
use crate::units::UserManagers;
use townhall_wire::lines;

pub(super) use send::Sends;
pub(super) use tell::Tells;

/// Connections one uid may hold on the tools socket: each of its turns' CLIs asks a few
/// calls at a time, and a question to the mayor holds its connection while it waits.
const TOOLS_PER_UID: usize = 16;

fn parse(line: &str) -> serde_json::Result<Call> {
    serde_json::from_str(line)
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) async fn serve_tools(self: Arc<Self>, listener: tokio::net::UnixListener) {
        let rules =
            super::approvals::open_to_every_uid("the tools socket", TOOLS_PER_UID, MAX_CALL + 1024);
        lines::serve(
            listener,
            Arc::new(rules),
            parse,
            move |call: Call, uid, out: mpsc::Sender<Answer>| {
                let daemon = self.clone();
                async move {
                    let a = daemon.tool_call(call, uid, &out).await;
                    let _ = out.send(a).await;
                }
            },
        )
        .await
    }

    /// One call: whose and which turn's, checked; then the tool; then the audit line.
    async fn tool_call(&self, call: Call, uid: u32, out: &mpsc::Sender<Answer>) -> Answer {
        let town = self.town();
        let Some(r) = town.residents.iter().find(|r| r.uid == uid) else {
            return Answer::refused(format!("refused: uid {uid} is not a resident"));
        };
        let Some(turn) = self.desk.turn_of(uid, &call.token) else {
            tracing::warn!(resident = %r.name, tool = call.tool.name(), "a town tool called with no running turn's token");
            return Answer::refused(format!(
                "refused: no running turn of {}'s holds this token (the town's tools work only inside the turn that started them)",
                r.name
            ));
        };
        let (name, done) = (call.tool.name(), call.tool.done());
        let a = match check::tool(&call.tool) {
            Err(why) => Answer::refused(format!("refused: {why}")),
            Ok(()) => self.run_tool(r, &turn, call.tool, out).await,
        };
        self.audit_tool(&r.name, &turn, name, &a);
        if a.ok {
            self.desk.used(&turn.unit, done);
        }
        a
    }

    async fn run_tool(
        &self,
        r: &crate::config::Resident,
        turn: &RunningTurn,
        tool: Tool,
        out: &mpsc::Sender<Answer>,
    ) -> Answer {
        match tool {
            Tool::Town => self.town_view(r).await,
            Tool::TellMayor { text } => self.tell_mayor(r, turn, text),
            Tool::SendFile { path } => self.send_file(r, turn, path, out.closed()).await,
            Tool::AskResident { resident, message } => {
                self.ask_resident(r, turn, &resident, &message).await
            }
            Tool::AskMayor { question, choices } => {
                self.ask_question(r, turn, question, choices, out.closed())
                    .await
            }
            Tool::RequestDevice {
                device,
                duration,
                reason,
            } => {
                self.request_device(r, turn, &device, &duration, &reason, out.closed())
                    .await
            }
        }
    }

    fn audit_tool(&self, resident: &str, turn: &RunningTurn, tool: &str, a: &Answer) {
        let said = crate::turn::bounds::clip(&a.text, 300);
        let detail = serde_json::json!({ "resident": resident, "turn": turn.unit, "tool": tool, "ok": a.ok, "said": said });
        if let Err(e) = crate::audit::append(&self.town().state, "tool", &detail) {
            tracing::warn!("{e}");
        }
    }

    /// The room a turn's tools speak in: the one its conversation's message came from.
    fn room_of_turn(&self, r: &str, turn: &RunningTurn) -> Result<crate::hall::Reply, Answer> {
        self.approvals
            .room_of(r, &turn.conversation)
            .ok_or_else(|| {
                Answer::refused(
                    "refused: this turn was not started from a room, so there is no one to tell or ask",
                )
            })
    }
}
