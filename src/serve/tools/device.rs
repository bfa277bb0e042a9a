//! `request_device`: the mayors are asked as for an approval (✅ lends, ❌ refuses); a yes
//! makes a lease as `!lease` does, which the device watcher grants with an ACL.

use super::super::Daemon;
use super::super::approvals::Question;
use crate::grant::Acls;
use crate::hall::{LONGEST_LEASE, SHORTEST_LEASE};
use crate::machine::Machine;
use crate::tools::Answer;
use crate::turn::RunningTurn;
use crate::units::UserManagers;

use crate::hall::DEVICE_TOOL;

/// How long a granted request waits for the device watcher to set the ACL.
const GRANT_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) async fn request_device(
        &self,
        r: &crate::config::Resident,
        turn: &RunningTurn,
        device: &str,
        duration: &str,
        reason: &str,
        gone: impl std::future::Future<Output = ()>,
    ) -> Answer {
        let span = match humantime::parse_duration(duration) {
            Ok(d) if (SHORTEST_LEASE..=LONGEST_LEASE).contains(&d) => d,
            _ => {
                return Answer::refused(format!(
                    "refused: {duration:.40?} is not a duration from 1m to 30days, such as \"30m\" or \"2h\""
                ));
            }
        };
        let dev = match self.present(device) {
            Ok(d) if d.refused.is_none() => d,
            Ok(d) => {
                return Answer::refused(format!("refused: {}", d.refused.unwrap_or_default()));
            }
            Err(e) => return Answer::refused(format!("refused: {e}")),
        };
        let reply = match self.room_of_turn(&r.name, turn) {
            Ok(reply) => reply,
            Err(a) => return a,
        };
        let span_words = humantime::format_duration(span).to_string();
        let question = Question {
            turn: &turn.unit,
            reply,
            tool: DEVICE_TOOL,
            subject: format!("{} for {span_words}: {reason}", dev.devnode.display()),
            rule: String::new(),
            round: false,
        };
        let d = self.ask_mayor(r, question, gone).await;
        if !d.allow {
            return Answer::ok(format!("refused: {}", d.reason));
        }
        let by = d.by.unwrap_or_default();
        let lease = match self.lease(device, &r.name, span.as_secs(), &by) {
            Ok(l) => l,
            Err(e) => {
                return Answer::refused(format!("allowed by {by}, but the lease failed: {e}"));
            }
        };
        // Returned once the watcher has granted it, so the agent can open it at once.
        let deadline = tokio::time::Instant::now() + GRANT_WITHIN;
        while !self.holds(device, &r.name) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Answer::ok(format!(
            "granted by {by}: {} is yours until {}",
            lease.devnode.display(),
            lease.until
        ))
    }

    /// Whether `resident` holds the present device `device` now.
    fn holds(&self, device: &str, resident: &str) -> bool {
        self.present(device)
            .is_ok_and(|d| d.holders.iter().any(|h| h.resident == resident))
    }
}
