//! The residents' signing agents, (re)started at start, on reload and when a round begins
//! (levelling removed the old sockets), with allowed_signers published beside them.

use std::sync::Arc;

use super::Daemon;
use crate::grant::Acls;
use crate::machine::Machine;
use crate::public::PublicFiles;
use crate::sign::KeyStore;
use crate::units::UserManagers;

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// (Re)start every resident's signing agent and publish allowed_signers: at start, on
    /// reload, and when a round begins (levelling removed the old sockets).
    pub(crate) fn start_agents(&self) {
        let town = self.town();
        let keys = self.machine.keys();
        if let Err(e) = keys.publish(&town, &crate::sign::allowed_signers_path()) {
            tracing::error!("{e}");
        }
        // Beside it, the settings every gemini resident's CLI starts from.
        let public = self.machine.public();
        if let Err(e) = public.publish(
            crate::turn::drivers::GEMINI_DEFAULTS_NAME,
            crate::turn::drivers::GEMINI_DEFAULTS,
        ) {
            tracing::error!("{e}");
        }
        let state = town.state.clone();
        let audit: crate::sign::Audit = std::sync::Arc::new(
            move |resident: &str, namespace: &str, sha256: &str| {
                let line = serde_json::json!({ "resident": resident, "namespace": namespace, "sha256": sha256 });
                if let Err(e) = crate::audit::append(&state, "sign", &line) {
                    tracing::warn!("{e}");
                }
            },
        );
        let agents = town
            .residents
            .iter()
            .filter_map(|r| match keys.get(&r.name) {
                Ok(key) => Some(crate::sign::ResidentAgent {
                    resident: r.name.clone(),
                    uid: r.uid,
                    key: Arc::new(key),
                    policy: Default::default(),
                    audit: audit.clone(),
                }),
                Err(e) => {
                    tracing::error!(resident = %r.name, "no signing agent: {e}");
                    None
                }
            })
            .collect();
        self.agents.restart(agents);
    }
}
