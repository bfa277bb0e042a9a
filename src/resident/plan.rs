//! Declared residents vs the system's accounts: what to create, or why to refuse.

use std::path::PathBuf;

use super::{Account, Accounts};
use crate::config::{AccountsMode, Town};
use crate::os::OsError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountProblem {
    #[error(
        "uid {uid} of resident {resident} already belongs to user {owner}\n  help: pick another uid in residents/{resident}.toml, or remove user {owner}"
    )]
    UidTaken {
        resident: String,
        uid: u32,
        owner: String,
    },
    #[error(
        "user {resident} exists but its {field} is {found}, not {declared}\n  help: change residents/{resident}.toml to match, or fix the account (usermod)"
    )]
    Differs {
        resident: String,
        field: &'static str,
        declared: String,
        found: String,
    },
    #[error(
        "user {resident} does not exist and accounts = \"verify\"\n  help: declare it (on NixOS, through the townhall module) or set accounts = \"create\""
    )]
    Missing { resident: String },
    #[error(transparent)]
    Os(#[from] OsError),
}

/// The account each resident should have.
pub fn declared(town: &Town) -> Vec<Account> {
    town.residents
        .iter()
        .map(|r| Account {
            name: r.name.clone(),
            uid: r.uid,
            gid: r.uid,
            home: town.home(r),
            shell: PathBuf::from("/bin/bash"),
        })
        .collect()
}

/// Accounts to create. Any problem with any resident refuses the whole plan, so nothing is
/// half-created.
pub fn plan_accounts(
    town: &Town,
    system: &impl Accounts,
) -> Result<Vec<Account>, Vec<AccountProblem>> {
    let mut create = Vec::new();
    let mut problems = Vec::new();
    for want in declared(town) {
        match check(&want, system, town.accounts) {
            Ok(true) => create.push(want),
            Ok(false) => {}
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() {
        Ok(create)
    } else {
        Err(problems)
    }
}

/// Ok(true): missing, create it. Ok(false): present and as declared.
fn check(
    want: &Account,
    system: &impl Accounts,
    mode: AccountsMode,
) -> Result<bool, AccountProblem> {
    let resident = want.name.clone();
    if let Some(owner) = system.by_uid(want.uid)?
        && owner.name != want.name
    {
        return Err(AccountProblem::UidTaken {
            resident,
            uid: want.uid,
            owner: owner.name,
        });
    }
    let Some(found) = system.by_name(&want.name)? else {
        return match mode {
            AccountsMode::Create => Ok(true),
            AccountsMode::Verify => Err(AccountProblem::Missing { resident }),
        };
    };
    let differs = |field, declared: String, found: String| {
        Err(AccountProblem::Differs {
            resident: resident.clone(),
            field,
            declared,
            found,
        })
    };
    if found.uid != want.uid {
        return differs("uid", want.uid.to_string(), found.uid.to_string());
    }
    if found.gid != want.gid {
        return differs("gid", want.gid.to_string(), found.gid.to_string());
    }
    if found.home != want.home {
        return differs(
            "home",
            want.home.display().to_string(),
            found.home.display().to_string(),
        );
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resident::FakeAccounts;
    use crate::testing::demo_town;

    fn acct(name: &str, uid: u32, home: &str) -> Account {
        Account {
            name: name.into(),
            uid,
            gid: uid,
            home: home.into(),
            shell: "/bin/bash".into(),
        }
    }

    #[test]
    fn creates_missing_accounts_only() {
        let town = demo_town();
        let fake = FakeAccounts::with(vec![acct("ada", 1100, "/agents/ada")]);
        let plan = plan_accounts(&town, &fake).unwrap();
        assert_eq!(
            plan.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["vox"]
        );
        assert!(fake.calls.calls().is_empty(), "planning never acts");
    }

    #[test]
    fn refuses_taken_uids_and_differing_accounts() {
        let town = demo_town();
        let fake = FakeAccounts::with(vec![
            acct("bob", 1100, "/home/bob"),
            acct("vox", 1101, "/home/vox"),
        ]);
        let problems = plan_accounts(&town, &fake).unwrap_err();
        assert!(matches!(&problems[0], AccountProblem::UidTaken { owner, .. } if owner == "bob"));
        assert!(matches!(
            &problems[1],
            AccountProblem::Differs { field: "home", .. }
        ));
    }

    #[test]
    fn verify_mode_never_creates() {
        let mut town = demo_town();
        town.accounts = AccountsMode::Verify;
        let problems = plan_accounts(&town, &FakeAccounts::default()).unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(matches!(&problems[0], AccountProblem::Missing { .. }));
    }
}
