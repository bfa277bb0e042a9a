//! What turns spent, from each CLI's own usage reports: per resident and conversation, per
//! round, in the root-only state dir (a resident cannot edit what it spent). Budgets are
//! checked against the current round's totals.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::os::OsError;

/// Spending summed over turns. Cost is what the CLI reported (claude does; codex and gemini
/// report tokens only).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Spent {
    pub turns: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
}

impl Spent {
    pub fn tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// What was added since `before` (of the same running total).
    pub fn since(&self, before: &Spent) -> Spent {
        Spent {
            turns: self.turns.saturating_sub(before.turns),
            input_tokens: self.input_tokens.saturating_sub(before.input_tokens),
            output_tokens: self.output_tokens.saturating_sub(before.output_tokens),
            cost_usd: (self.cost_usd - before.cost_usd).max(0.0),
        }
    }

    pub fn add(&mut self, other: &Spent) {
        self.turns += other.turns;
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        // A hostile CLI may report NaN, negative or absurd costs: only finite, positive
        // amounts count.
        if other.cost_usd.is_finite() && other.cost_usd > 0.0 {
            self.cost_usd += other.cost_usd.min(1e6);
        }
    }
}

/// An amount as the mayor reads it: cents, or the first digits of a fraction of a cent.
pub fn dollars(usd: f64) -> String {
    if usd >= 0.01 || usd == 0.0 {
        format!("${usd:.2}")
    } else {
        format!("${usd:.6}").trim_end_matches('0').to_string()
    }
}

/// One resident's spending in one round.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoundSpent {
    pub total: Spent,
    pub conversations: BTreeMap<String, Spent>,
}

/// Rounds kept: older ones are dropped as new ones begin.
const ROUNDS_KEPT: usize = 20;
/// Conversations kept per resident and round; past it, the rest count under one key.
const CONVERSATIONS_KEPT: usize = 200;
const OTHERS: &str = "(other conversations)";

type Book = BTreeMap<u64, BTreeMap<String, RoundSpent>>;

pub struct Ledger {
    path: PathBuf,
    book: Mutex<Book>,
}

impl Ledger {
    pub fn load(state: &Path) -> Result<Self, OsError> {
        let path = state.join("spent.json");
        let help = "it holds what each round's turns spent; move it away and the counts (and budgets) start from zero";
        let book = crate::os::read_state(&path, help)?.unwrap_or_default();
        Ok(Self {
            path,
            book: Mutex::new(book),
        })
    }

    /// Add one turn's usage to the round's totals.
    pub fn record(
        &self,
        round: u64,
        resident: &str,
        conversation: &str,
        turn: &Spent,
    ) -> Result<(), OsError> {
        let mut book = self.book.lock().expect("lock");
        let r = book
            .entry(round)
            .or_default()
            .entry(resident.to_string())
            .or_default();
        r.total.add(turn);
        let key = if r.conversations.len() < CONVERSATIONS_KEPT
            || r.conversations.contains_key(conversation)
        {
            conversation
        } else {
            OTHERS
        };
        r.conversations
            .entry(key.to_string())
            .or_default()
            .add(turn);
        while book.len() > ROUNDS_KEPT {
            book.pop_first();
        }
        crate::os::write_state(&self.path, &*book)
    }

    pub fn round(&self, round: u64, resident: &str) -> RoundSpent {
        self.book
            .lock()
            .expect("lock")
            .get(&round)
            .and_then(|r| r.get(resident))
            .cloned()
            .unwrap_or_default()
    }

    /// The resident's totals of every round kept, newest first.
    pub fn rounds(&self, resident: &str) -> Vec<(u64, Spent)> {
        let book = self.book.lock().expect("lock");
        book.iter()
            .rev()
            .filter_map(|(n, r)| r.get(resident).map(|s| (*n, s.total)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(tokens: u64, cost: f64) -> Spent {
        Spent {
            turns: 1,
            input_tokens: tokens,
            output_tokens: 1,
            cost_usd: cost,
        }
    }

    #[test]
    fn sums_per_round_and_conversation_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::load(dir.path()).unwrap();
        l.record(3, "ada", "!a", &turn(10, 0.5)).unwrap();
        l.record(3, "ada", "!b", &turn(20, 0.25)).unwrap();
        l.record(4, "ada", "!a", &turn(5, 0.0)).unwrap();
        let l = Ledger::load(dir.path()).unwrap();
        let r3 = l.round(3, "ada");
        assert_eq!(
            (r3.total.turns, r3.total.input_tokens, r3.total.cost_usd),
            (2, 30, 0.75)
        );
        assert_eq!(r3.conversations["!b"].cost_usd, 0.25);
        assert_eq!(
            l.rounds("ada")
                .iter()
                .map(|(n, s)| (*n, s.turns))
                .collect::<Vec<_>>(),
            [(4, 1), (3, 2)]
        );
        assert_eq!(l.round(4, "vox"), RoundSpent::default());
    }

    #[test]
    fn amounts_read_as_dollars() {
        assert_eq!(
            [
                dollars(0.0),
                dollars(1.5),
                dollars(0.000288),
                dollars(0.012)
            ],
            ["$0.00", "$1.50", "$0.000288", "$0.01"]
        );
    }

    #[test]
    fn hostile_reports_stay_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::load(dir.path()).unwrap();
        for bad in [f64::NAN, f64::INFINITY, -5.0] {
            l.record(1, "ada", "c", &turn(u64::MAX, bad)).unwrap();
        }
        let r = l.round(1, "ada");
        assert_eq!((r.total.cost_usd, r.total.input_tokens), (0.0, u64::MAX));
        for i in 0..(CONVERSATIONS_KEPT + 50) {
            l.record(1, "ada", &format!("c{i}"), &turn(1, 0.0)).unwrap();
        }
        assert!(l.round(1, "ada").conversations.len() <= CONVERSATIONS_KEPT + 1);
        for n in 0..(ROUNDS_KEPT as u64 + 5) {
            l.record(100 + n, "ada", "c", &turn(1, 0.0)).unwrap();
        }
        assert_eq!(l.rounds("ada").len(), ROUNDS_KEPT);
    }
}
