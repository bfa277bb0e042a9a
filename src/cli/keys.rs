//! `townhall keys` and `townhall keys rotate NAME`.

use std::process::ExitCode;

use anyhow::Context;

use townhall::config::Town;
use townhall::control::Request;
use townhall::sign::{self, Keys};

pub fn show(town: &Town, json: bool) -> anyhow::Result<ExitCode> {
    let keys = Keys::new(&town.state);
    keys.publish(town, &sign::allowed_signers_path())?;
    if json {
        let list: Vec<_> = town
            .residents
            .iter()
            .map(|r| Ok(serde_json::json!({ "resident": r.name, "principal": r.git.email, "public": keys.public(&r.name)?, "retired": keys.retired(&r.name)? })))
            .collect::<Result<_, sign::KeyError>>()?;
        super::print_json(
            &serde_json::json!({ "keys": list, "allowed_signers": sign::allowed_signers_path() }),
        );
        return Ok(ExitCode::SUCCESS);
    }
    for r in &town.residents {
        println!("{:<12} {}", r.name, keys.public(&r.name)?);
    }
    println!(
        "\n# {} (world-readable; for gpg.ssh.allowedSignersFile)",
        sign::allowed_signers_path().display()
    );
    print!("{}", keys.allowed_signers(town)?);
    Ok(ExitCode::SUCCESS)
}

pub fn rotate(town: &Town, name: &str) -> anyhow::Result<ExitCode> {
    let keys = Keys::new(&town.state);
    let public = keys.rotate(town, name)?;
    keys.publish(town, &sign::allowed_signers_path())?;
    println!(
        "{name} signs with {public} from now on; the old key verifies commits signed before now"
    );
    // The running agent takes the new key; the resident's git config names it, set as the
    // resident (never by root writing into its home).
    let _ = super::call_daemon(&Request::Reload, 10);
    let r = town.resident(name).context("checked by rotate")?;
    let within = std::time::Duration::from_secs(30);
    let status = townhall::units::helper::as_resident(
        r.uid,
        r.uid,
        &town.home(r),
        &[],
        0o022,
        within,
        "git",
    )
    .args([
        "config",
        "--global",
        "user.signingkey",
        &format!("key::{public}"),
    ])
    .status();
    match status {
        Ok(s) if s.success() => {}
        other => eprintln!(
            "warning: could not set user.signingkey in {}'s git config ({other:?}); the next reset does",
            r.name
        ),
    }
    Ok(ExitCode::SUCCESS)
}
