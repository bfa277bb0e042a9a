//! Signed commits: one Ed25519 key per resident, held by the supervisor (root-only, in the
//! state dir), and an ssh-agent per resident that signs only git's SSHSIG requests for it.
//! The resident can ask for signatures while its round runs; it can never read the key.

mod agent;
#[cfg(test)]
mod fake;
mod keys;
mod socket;
mod store;

use std::path::{Path, PathBuf};

pub use agent::{Agents, Audit, ResidentAgent, SignPolicy, check_request};
#[cfg(test)]
pub use fake::FakeKeys;
pub use keys::{KeyError, Keys, Retired};
pub use store::KeyStore;

/// Where a resident's agent socket lives: a directory only that resident may enter.
pub fn agent_dir(resident: &str) -> PathBuf {
    PathBuf::from(format!("/run/townhall-sign/{resident}"))
}

pub fn agent_socket(resident: &str) -> PathBuf {
    agent_dir(resident).join("agent.sock")
}

/// Where the mayor (and residents) read the allowed signers from: the public directory.
pub fn allowed_signers_path() -> PathBuf {
    Path::new(crate::public::DIR).join("allowed_signers")
}

/// Give each home of a reset plan its resident's public key (made on first need) and
/// publish the town's allowed_signers, so the new round's git signs from its first commit.
/// A resident whose key cannot be read gets a home without signing, and the problem is
/// returned (one line each) rather than stopping the reset.
pub fn sign_plan(
    plan: &mut crate::round::ResetPlan,
    town: &crate::config::Town,
    keys: &impl KeyStore,
) -> Vec<String> {
    let mut problems = Vec::new();
    for h in &mut plan.homes {
        match keys.public(&h.name) {
            Ok(k) => h.signing_key = Some(k),
            Err(e) => problems.push(format!("{}: commits will not be signed: {e}", h.name)),
        }
    }
    if let Err(e) = keys.publish(town, &allowed_signers_path()) {
        problems.push(e.to_string());
    }
    problems
}
