//! The town remote at start: its repositories prepared, and the pipe residents push
//! through served on a thread of its own (each push is a blocking receive-pack); an
//! accepted push is told in the pusher's rooms and starts the turns that wait for it.

use std::sync::Arc;

use super::Daemon;
use crate::config::Town;
use crate::grant::Acls;
use crate::machine::Machine;
use crate::remote::TownRemote;
use crate::units::UserManagers;

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// The town remote's repositories, and the pipe residents push through (a thread of
    /// its own: each push is a blocking receive-pack).
    pub(super) async fn serve_pushes(self: &Arc<Self>, town: &Arc<Town>) {
        let (t, machine) = (town.clone(), self.machine.clone());
        match tokio::task::spawn_blocking(move || machine.remote().prepare(&t)).await {
            Ok(Ok(done)) => done.iter().for_each(|d| tracing::info!("town remote: {d}")),
            Ok(Err(e)) => tracing::error!("town remote: {e}"),
            Err(e) => tracing::error!("town remote: {e}"),
        }
        match crate::remote::Pipe::bind() {
            Ok(pipe) => {
                let (d, told) = (self.clone(), self.clone());
                let runtime = tokio::runtime::Handle::current();
                let pushed = move |resident: &str, notices: Vec<crate::hall::Notice>| {
                    let _inside = runtime.enter();
                    told.pushed(resident, &notices);
                    let state = told.town().state.clone();
                    for n in &notices {
                        if let crate::hall::Notice::Pushed {
                            repo,
                            refname,
                            commits,
                            ..
                        } = n
                        {
                            let detail = serde_json::json!({ "resident": resident, "repo": repo, "refname": refname, "commits": commits });
                            crate::audit::record(&state, "push", &detail);
                        }
                    }
                    for n in notices {
                        told.tell(resident, n);
                    }
                };
                let machine = self.machine.clone();
                std::thread::spawn(move || {
                    pipe.serve(machine, H::remote, move || d.town(), pushed)
                });
            }
            Err(e) => tracing::error!(
                "no push pipe at {}: {e}",
                crate::remote::pipe_socket().display()
            ),
        }
    }
}
