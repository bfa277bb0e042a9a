//! What root's CLI asks on the control socket, and the daemon's one turn path.

use tokio::sync::mpsc;

use super::Daemon;
use super::asker::Asker;
use crate::control::{self, Request, Response};
use crate::grant::Acls;
use crate::machine::Machine;
use crate::turn::conversation::Message;
use crate::turn::{Outcome, TurnError, TurnEvent};
use crate::units::UserManagers;

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// Every turn, from the CLI or the chat, runs here.
    pub(super) async fn turn(
        &self,
        resident: &str,
        conversation: &str,
        prompt: &str,
        fresh: bool,
        events: mpsc::Sender<TurnEvent>,
    ) -> Result<Outcome, TurnError> {
        let town = self.town();
        let doing = self.doing.began(resident, prompt);
        self.tell_doing(resident);
        let ran = self
            .desk
            .turn(&town, resident, conversation, prompt, fresh, events)
            .await;
        self.doing.ended(resident, doing);
        self.tell_doing(resident);
        let detail = match &ran {
            Ok(o) => serde_json::json!({
                "resident": resident, "conversation": conversation, "result": o.result,
                "status": o.status, "duration_ms": o.duration_ms,
                "tokens": o.spent.as_ref().map(|s| s.tokens()),
                "usd": o.spent.as_ref().map(|s| s.cost_usd),
            }),
            Err(e) => serde_json::json!({
                "resident": resident, "conversation": conversation,
                "result": format!("not run: {e}"),
            }),
        };
        crate::audit::record(&town.state, "turn", &detail);
        let outcome = ran?;
        tracing::info!(%resident, result = %outcome.result, status = outcome.status, "turn ended");
        self.last_turn
            .lock()
            .expect("lock")
            .insert(resident.to_string(), outcome.clone());
        Ok(outcome)
    }
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// Tell the chat what `resident` does now, if that changed (its bot's presence).
    pub(super) fn tell_doing(&self, resident: &str) {
        if let Some(activity) = self.doing.news(resident) {
            let said = crate::hall::Said::Activity {
                resident: resident.to_string(),
                activity,
            };
            if !self.broadcast(said) {
                self.doing.untold(resident);
            }
        }
    }
}

impl<H, M, G> control::Handler for Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    async fn handle(&self, req: Request, out: mpsc::Sender<Response>) {
        let error = |e: &dyn std::fmt::Display| Response::Error {
            message: e.to_string(),
        };
        let answer = match req {
            Request::Status => self.status().map_or_else(|e| error(&e), Response::Status),
            Request::Devices => Response::Devices {
                devices: self.keeper.status(),
            },
            // Answered once applied: what `townhall reload` returns to holds (the gate
            // restarted or told, the egress rules loaded).
            Request::Reload => match self.reload() {
                Ok((town, applied)) => {
                    let _ = tokio::task::spawn_blocking(move || applied.join()).await;
                    Response::Reloaded {
                        residents: town.residents.len() as u32,
                    }
                }
                Err(e) => Response::Error {
                    message: format!("reload refused, the running configuration stays:\n{e}"),
                },
            },
            // Answered before the turn runs: the timer's service only says when.
            Request::Fire { resident, id } => match self.fire(&resident, &id) {
                Ok(Some((key, batch))) => {
                    let _ = out.send(Response::Done).await;
                    drop(out);
                    return self.run_lane(&key, batch).await;
                }
                Ok(None) => Response::Done,
                Err(e) => error(&e),
            },
            Request::RoundBegan => {
                self.round_began();
                Response::Done
            }
            Request::StopTurns => match self.desk.stop(None).await {
                Ok(turns) => Response::Stopped { turns },
                Err(e) => error(&e),
            },
            Request::Stop { resident } => match self.town().resident(&resident).map(|r| r.uid) {
                None => Response::Error {
                    message: format!("no resident named `{resident}`"),
                },
                Some(uid) => match self.desk.stop_resident(&resident, uid).await {
                    Ok(turns) => Response::Stopped { turns },
                    Err(e) => error(&e),
                },
            },
            // Its answer comes as the turn's events and end, in the order of its conversation.
            Request::Turn {
                resident,
                conversation,
                prompt,
                fresh,
            } => {
                let message = Message::Cli { prompt, fresh };
                let key = (resident, conversation);
                return self.ask(key, message, Asker::Cli(out)).await;
            }
        };
        let _ = out.send(answer).await;
    }
}
