//! `ask_mayor`: a new message in the turn's room that mentions the mayors, its choices to
//! react with; the first answer from someone the resident takes commands from (a choice
//! reacted with, or a reply) returns, or "no answer" at the resident's `approve_timeout`.
//! It shares the approvals' caps on open questions.

use tokio::sync::oneshot;

use super::super::Daemon;
use super::super::approvals::Asked;
use crate::grant::Acls;
use crate::hall::Said;
use crate::machine::Machine;
use crate::tools::Answer;
use crate::turn::RunningTurn;
use crate::units::UserManagers;

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) async fn ask_question(
        &self,
        r: &crate::config::Resident,
        turn: &RunningTurn,
        question: String,
        choices: Vec<String>,
        gone: impl std::future::Future<Output = ()>,
    ) -> Answer {
        let reply = match self.room_of_turn(&r.name, turn) {
            Ok(reply) => reply,
            Err(a) => return a,
        };
        let (tx, rx) = oneshot::channel();
        let id = match self.approvals.open(&r.name, &turn.unit, Asked::Words, tx) {
            Ok(id) => id,
            Err(why) => return Answer::refused(format!("refused: {why}")),
        };
        let wait = r.agent.approve_timeout;
        let asked = self.broadcast(Said::Question {
            id,
            resident: r.name.clone(),
            room: reply.room,
            thread: reply.thread,
            question,
            choices,
            mention: self.town().matrix.mayors.clone(),
            wait_secs: wait.as_secs(),
        });
        if !asked {
            self.approvals.close(id);
            return Answer::refused(
                "refused: the chat is not connected, so no mayor can be asked now",
            );
        }
        let decided = tokio::select! {
            d = tokio::time::timeout(wait, rx) => d.ok().and_then(Result::ok),
            () = gone => None,
        };
        self.approvals.close(id);
        self.broadcast(Said::QuestionEnded {
            id,
            resident: r.name.clone(),
            answer: decided.as_ref().map(|d| d.reason.clone()),
            by: decided.as_ref().and_then(|d| d.by.clone()),
        });
        match decided {
            Some(d) => Answer::ok(format!(
                "{} answered: {}",
                d.by.as_deref().unwrap_or("the mayor"),
                d.reason
            )),
            None => Answer::ok(format!(
                "no answer: nobody answered within {}",
                humantime::format_duration(wait)
            )),
        }
    }
}
