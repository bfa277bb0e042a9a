//! The real firewall: the `nft` command reading a script on stdin, which the kernel applies
//! as one transaction (all of it or none).

use std::io::Write;
use std::process::{Command, Stdio};

use super::{Firewall, Ruleset, rules};
use crate::os::OsError;

#[derive(Debug, Default)]
pub struct Nft;

const ACTION: &str = "loading the egress rules (nft -f -)";

impl Firewall for Nft {
    fn load(&self, rules: Option<&Ruleset>) -> Result<(), OsError> {
        let script = match rules {
            Some(r) => r.script().to_string(),
            None => rules::removal(),
        };
        let child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            // Nothing to remove where nft was never installed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && rules.is_none() => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(OsError::new(
                    ACTION,
                    "no `nft` on PATH: install nftables (Debian: apt install nftables)",
                ));
            }
            Err(e) => return Err(OsError::new(ACTION, e)),
        };
        let mut stdin = child.stdin.take().expect("piped");
        let written = stdin.write_all(script.as_bytes());
        drop(stdin);
        let out = child
            .wait_with_output()
            .map_err(|e| OsError::new(ACTION, e))?;
        written.map_err(|e| OsError::new(ACTION, e))?;
        if !out.status.success() {
            let said = String::from_utf8_lossy(&out.stderr);
            return Err(OsError::new(
                ACTION,
                format!("{}: {}", out.status, said.trim()),
            ));
        }
        Ok(())
    }
}
