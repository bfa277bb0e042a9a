//! Rules allowed for the rest of a round: an approver's 🔁 on an approval lets every later
//! call that rule names through without asking, until the resident's round ends (its
//! number changes) or `!approvals clear` takes them back.
//!
//! Kept in memory only: a restart of townhall forgets them, and the calls ask again, which
//! is the safe direction to lose them in.

use std::collections::HashMap;
use std::sync::Mutex;

use townhall_wire::hall::RoundRule;

/// Per resident: the round the rules were allowed in, and the rules with who allowed each.
#[derive(Default)]
pub(super) struct Allowed(Mutex<HashMap<String, (u64, Vec<RoundRule>)>>);

impl Allowed {
    /// Allow `rule` for the rest of `resident`'s round `round`.
    pub fn allow(&self, resident: &str, round: u64, rule: &str, by: &str) {
        let mut all = self.0.lock().expect("lock");
        let (at, rules) = all.entry(resident.to_string()).or_default();
        if *at != round {
            (*at, *rules) = (round, Vec::new());
        }
        if !rules.iter().any(|r| r.rule == rule) {
            rules.push(RoundRule {
                rule: rule.to_string(),
                by: by.to_string(),
            });
        }
    }

    /// Who allowed `rule` for `resident`'s round `round`, if anyone did.
    pub fn by(&self, resident: &str, round: u64, rule: &str) -> Option<String> {
        self.rules(resident, round)
            .into_iter()
            .find(|r| r.rule == rule)
            .map(|r| r.by)
    }

    /// What `resident`'s approvers allowed for its round `round`.
    pub fn rules(&self, resident: &str, round: u64) -> Vec<RoundRule> {
        match self.0.lock().expect("lock").get(resident) {
            Some((at, rules)) if *at == round => rules.clone(),
            _ => Vec::new(),
        }
    }

    /// Take back what `resident`'s approvers allowed for the round.
    pub fn clear(&self, resident: &str) {
        self.0.lock().expect("lock").remove(resident);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_holds_for_its_round_only_and_until_cleared() {
        let a = Allowed::default();
        a.allow("ada", 3, "Bash(git push*)", "@mayor:t");
        a.allow("ada", 3, "Bash(git push*)", "@other:t");
        assert_eq!(
            a.by("ada", 3, "Bash(git push*)").as_deref(),
            Some("@mayor:t")
        );
        assert_eq!(a.rules("ada", 3).len(), 1, "allowed twice, listed once");
        assert_eq!(a.by("ada", 3, "Bash(rm*)"), None, "another rule still asks");
        assert_eq!(a.by("vox", 3, "Bash(git push*)"), None, "another resident");
        assert_eq!(a.by("ada", 4, "Bash(git push*)"), None, "the next round");
        a.allow("ada", 4, "Bash(rm*)", "@mayor:t");
        assert_eq!(
            a.rules("ada", 3),
            vec![],
            "a new round forgets the old one's"
        );
        a.clear("ada");
        assert_eq!(a.by("ada", 4, "Bash(rm*)"), None, "cleared");
    }
}
