//! Residents as real Unix users: the accounts seam and the plan that reconciles the
//! declared residents with the accounts the system has.

mod accounts;
mod plan;

#[cfg(test)]
pub use accounts::FakeAccounts;
pub use accounts::{Account, Accounts, SystemAccounts};
pub use plan::{AccountProblem, plan_accounts};
