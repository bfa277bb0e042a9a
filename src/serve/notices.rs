//! Notices to a resident's declared rooms (device grants, what a reset moved aside or could
//! not build, what a round lost): handed to the chat process, or kept until one subscribes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Daemon;
use super::outbox::Outbox;
use crate::grant::Acls;
use crate::hall::Notice;
use crate::machine::Machine;
use crate::units::UserManagers;

/// Says notices: to the chat through the outbox, or kept until a chat subscribes. Cheap to
/// clone, for threads that tell (the retired rounds' deleter).
#[derive(Clone, Default)]
pub struct Teller {
    pub outbox: Arc<Outbox>,
    pending: Arc<Mutex<HashMap<String, Vec<Notice>>>>,
}

impl Teller {
    /// Say `notice` in every room `resident` declares (the chat process does); kept until a
    /// chat subscribes when none is.
    pub fn tell(&self, resident: &str, notice: Notice) {
        let said = crate::hall::Said::Notice {
            resident: resident.to_string(),
            notice: notice.clone(),
        };
        if !self.outbox.push(said) {
            self.pending
                .lock()
                .expect("lock")
                .entry(resident.to_string())
                .or_default()
                .push(notice);
        }
    }

    /// Keep the notices among `left` (what a subscription that ended could not hand over)
    /// for the next chat.
    pub fn keep(&self, left: Vec<crate::hall::Said>) {
        let mut pending = self.pending.lock().expect("lock");
        for said in left {
            if let crate::hall::Said::Notice { resident, notice } = said {
                pending.entry(resident).or_default().push(notice);
            }
        }
    }

    /// What waited for a chat, taken for the one subscribing now.
    pub fn take_pending(&self) -> Vec<(String, Vec<Notice>)> {
        self.pending.lock().expect("lock").drain().collect()
    }

    #[cfg(test)]
    pub fn pending_for(&self, resident: &str) -> Vec<Notice> {
        self.pending
            .lock()
            .expect("lock")
            .get(resident)
            .cloned()
            .unwrap_or_default()
    }
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) fn tell(&self, resident: &str, notice: Notice) {
        self.teller.tell(resident, notice);
    }

    /// A round began (here, through the CLI, or at boot): tell each resident's rooms what the
    /// reset moved aside or could not do for it, once per round.
    pub(super) fn round_began(&self) {
        self.start_agents();
        self.clear_retired();
        let town = self.town();
        // Each round starts under the declared rules, whatever a host firewall flushed since.
        let t = town.clone();
        std::thread::spawn(move || {
            crate::egress::load(&t);
        });
        // The next reset levels where this walk finds: new world-writable dirs included.
        let t = town.clone();
        let walk = std::thread::Builder::new()
            .name("shared-dirs".into())
            .spawn(move || {
                crate::os::lower_priority();
                match crate::level::refresh_shared_dirs(&t) {
                    Ok(found) => tracing::info!(
                        "levelling sweeps {} world-writable dir(s) of the host",
                        found.len()
                    ),
                    Err(e) => tracing::warn!("{e}"),
                }
            });
        if let Err(e) = walk {
            tracing::warn!("no thread to walk for shared dirs: {e}");
        }
        let state = crate::round::RoundState::new(&town.state);
        for r in &town.residents {
            if let Some(report) = state.own_last(&r.name) {
                self.tell_troubles(
                    &town,
                    &report,
                    &r.name,
                    &format!("notified-round-{}", r.name),
                );
            }
        }
        let Some(report) = state.last() else { return };
        let told = town.state.join("notified-round");
        let last_told = told_round(&told);
        if report.round <= last_told {
            return;
        }
        for r in &town.residents {
            let lines = report.troubles_of(&r.name);
            if !lines.is_empty() {
                self.tell(
                    &r.name,
                    Notice::RoundBegan {
                        round: report.round,
                        lines,
                    },
                );
            }
        }
        if let Err(e) = crate::os::write_atomic(&told, format!("{}\n", report.round).as_bytes()) {
            tracing::warn!("{e}");
        }
    }

    /// What a reset of `resident` alone moved aside or could not do, told once per round
    /// of its own (`told_file` in the state dir keeps which).
    fn tell_troubles(
        &self,
        town: &crate::config::Town,
        report: &crate::round::ResetReport,
        resident: &str,
        told_file: &str,
    ) {
        let Some(&round) = report.rounds.get(resident) else {
            return;
        };
        let told = town.state.join(told_file);
        let last_told = told_round(&told);
        if round <= last_told {
            return;
        }
        let lines = report.troubles_of(resident);
        if !lines.is_empty() {
            self.tell(resident, Notice::RoundBegan { round, lines });
        }
        if let Err(e) = crate::os::write_atomic(&told, format!("{round}\n").as_bytes()) {
            tracing::warn!("{e}");
        }
    }
}

/// The last round a state file says was told (0 when none was).
pub(super) fn told_round(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}
