//! The town's nftables table, made from the declared town alone (pure: no system calls).
//!
//! Every socket a resident owns is matched by uid in the output hook (`meta skuid`), so no
//! tool escapes by ignoring proxy variables; the `inet` family covers IPv4 and IPv6 at once,
//! and raw or ping sockets are owned by their uid as well. A resident reaches the gate and
//! answers connections others opened to it (established, related); everything else it sends
//! is rejected at once (a reset or an ICMP error), so its tools fail fast instead of hanging.
//! Other users' traffic never enters the resident chain.

use std::fmt::Write;
use std::net::SocketAddr;

use crate::config::Town;

/// The one table townhall owns: `nft list table inet townhall` shows it.
pub const TABLE: &str = "inet townhall";

/// A complete script for `nft -f -` that replaces the town's table in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    script: String,
    residents: usize,
}

impl Ruleset {
    pub fn script(&self) -> &str {
        &self.script
    }

    pub fn residents(&self) -> usize {
        self.residents
    }
}

/// The rules the town needs: one set of resident uids, one chain they all go through.
/// A town without a gate gets none: its residents would have no way to their models.
pub fn wanted(town: &Town) -> Option<Ruleset> {
    if town.gate.apis.is_empty() {
        return None;
    }
    let uids: Vec<u32> = town.residents.iter().map(|r| r.uid).collect();
    Some(ruleset(&uids, town.gate.listen))
}

/// A script that removes the town's table, and succeeds when there is none: adding the
/// table first makes the delete find it. A new table is defined after it.
pub(super) fn removal() -> String {
    format!("table {TABLE}\ndelete table {TABLE}\n")
}

fn ruleset(uids: &[u32], gate: SocketAddr) -> Ruleset {
    let mut s = removal();
    let family = if gate.is_ipv4() { "ip" } else { "ip6" };
    let _ = writeln!(s, "table {TABLE} {{");
    s.push_str("\tset residents {\n\t\ttype uid\n");
    if !uids.is_empty() {
        let list: Vec<String> = uids.iter().map(u32::to_string).collect();
        let _ = writeln!(s, "\t\telements = {{ {} }}", list.join(", "));
    }
    s.push_str("\t}\n");
    // Each resident's own rate of logged drops, so one cannot drown another's out.
    s.push_str("\tset heard {\n\t\ttype uid\n\t\tflags dynamic,timeout\n\t\ttimeout 1m\n\t}\n");
    s.push_str("\tchain output {\n");
    s.push_str("\t\ttype filter hook output priority filter; policy accept;\n");
    s.push_str("\t\tmeta skuid @residents jump resident\n");
    s.push_str("\t}\n");
    s.push_str("\tchain resident {\n");
    s.push_str("\t\tct state established,related accept\n");
    let _ = writeln!(
        s,
        "\t\t{family} daddr {} tcp dport {} accept",
        gate.ip(),
        gate.port()
    );
    // Heard by root (a notice, `!network`); the limit keeps a flood from flooding root.
    let _ = writeln!(
        s,
        "\t\tupdate @heard {{ meta skuid limit rate 20/second burst 40 packets }} log group {}",
        super::LOG_GROUP
    );
    s.push_str("\t\tmeta l4proto tcp counter reject with tcp reset\n");
    s.push_str("\t\tcounter reject with icmpx type admin-prohibited\n");
    s.push_str("\t}\n}\n");
    Ruleset {
        script: s,
        residents: uids.len(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::config::{GateApi, KeyScheme};

    pub fn gated_town(uids: &[u32]) -> Town {
        let mut town = crate::testing::demo_town();
        town.gate.apis = vec![GateApi {
            name: "anthropic".into(),
            upstream: "https://api.anthropic.com".into(),
            key: KeyScheme::XApiKey,
            credential: "/etc/townhall/gate/anthropic.key".into(),
        }];
        let template = town.residents[0].clone();
        town.residents = uids
            .iter()
            .enumerate()
            .map(|(i, uid)| {
                let mut r = template.clone();
                r.name = format!("r{i}");
                r.uid = *uid;
                r
            })
            .collect();
        town
    }

    #[test]
    fn every_resident_is_in_the_set_and_reaches_only_the_gate() {
        let rules = wanted(&gated_town(&[1001, 1002])).expect("a gated town has rules");
        let s = rules.script();
        assert!(s.contains("elements = { 1001, 1002 }"), "{s}");
        assert!(s.contains("meta skuid @residents jump resident"), "{s}");
        assert!(
            s.contains("ip daddr 127.0.0.1 tcp dport 8447 accept"),
            "{s}"
        );
        // The last word of the resident chain is a refusal.
        let chain = &s[s.find("chain resident").unwrap()..];
        assert!(
            chain.contains("reject with icmpx type admin-prohibited\n\t}"),
            "{s}"
        );
        assert!(
            chain.contains("log group 7447"),
            "what is dropped is logged: {s}"
        );
        assert_eq!(rules.residents(), 2);
    }

    #[test]
    fn the_table_is_replaced_whole_so_a_resident_who_left_is_gone() {
        let s = wanted(&gated_town(&[1002])).unwrap().script().to_string();
        assert!(
            s.starts_with("table inet townhall\ndelete table inet townhall\n"),
            "{s}"
        );
        assert!(!s.contains("1001"), "{s}");
    }

    #[test]
    fn no_residents_is_an_empty_set_not_a_syntax_error() {
        let s = wanted(&gated_town(&[])).unwrap().script().to_string();
        assert!(!s.contains("elements"), "{s}");
    }

    #[test]
    fn a_gate_on_ipv6_loopback_is_matched_as_ipv6() {
        let mut town = gated_town(&[1001]);
        town.gate.listen = "[::1]:8447".parse().unwrap();
        let s = wanted(&town).unwrap().script().to_string();
        assert!(s.contains("ip6 daddr ::1 tcp dport 8447 accept"), "{s}");
    }

    #[test]
    fn no_gate_no_rules() {
        let mut town = gated_town(&[1001]);
        town.gate.apis.clear();
        assert_eq!(wanted(&town), None);
    }
}
