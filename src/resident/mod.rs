//! Residents as real Unix users: the accounts seam and the plan that reconciles the
//! declared residents with the accounts the system has.

mod accounts;
mod plan;

pub use accounts::{Account, Accounts, FakeAccounts, SystemAccounts};
pub use plan::{AccountProblem, plan_accounts};
