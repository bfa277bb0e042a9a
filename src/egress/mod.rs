//! Egress: what a resident's sockets may reach, enforced in the kernel (nftables `meta skuid`
//! in the output hook) rather than through proxy variables a resident's tools may ignore.
//! The core (`rules`) makes the town's whole table from the declared town; the adapter
//! (`Nft`) replaces it in one transaction, so a resident who is gone drops out with it.
//! What the rules drop is logged to a netlink group root reads (`nflog`); `Record` keeps
//! what each resident's network did this round, for the room and `!network`.

#[cfg(test)]
mod fake;
mod nflog;
mod nft;
mod packet;
mod record;
mod rules;

#[cfg(test)]
pub use fake::FakeFirewall;
pub use nflog::{Dropped, LOG_GROUP, listen};
pub use nft::Nft;
pub use packet::Packet;
pub use record::{Record, Tell, Telling};
pub use rules::{Ruleset, TABLE, wanted};

use crate::config::Town;
use crate::os::OsError;

pub trait Firewall {
    /// Replace the town's table with `rules`, or remove it when there are none, in one step.
    fn load(&self, rules: Option<&Ruleset>) -> Result<(), OsError>;
}

/// Make the kernel's rules what the town declares (at start, on reload, at each round).
pub fn apply(firewall: &impl Firewall, town: &Town) -> Result<(), OsError> {
    let rules = wanted(town);
    firewall.load(rules.as_ref())?;
    match &rules {
        Some(r) => tracing::info!(
            residents = r.residents(),
            "egress rules loaded: residents reach only the gate"
        ),
        None => tracing::debug!("no gate declared: no egress rules"),
    }
    Ok(())
}

/// `apply` with the real `nft`, its failure logged: for the daemon's start, reload and
/// rounds, where a failed load must not stop the rest.
pub fn load(town: &Town) {
    if let Err(e) = apply(&Nft, town) {
        tracing::error!("{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_load_is_said_and_nothing_is_claimed() {
        let town = rules::tests::gated_town(&[1001]);
        let fw = FakeFirewall::failing("nft: Operation not permitted");
        let e = apply(&fw, &town).unwrap_err();
        assert!(e.to_string().contains("Operation not permitted"), "{e}");
        assert!(fw.loaded().is_empty());
    }

    #[test]
    fn a_town_without_a_gate_removes_the_table() {
        let mut town = rules::tests::gated_town(&[1001]);
        town.gate.apis.clear();
        let fw = FakeFirewall::default();
        apply(&fw, &town).unwrap();
        assert_eq!(fw.loaded(), vec![None]);
    }
}
