//! The residents' signing keys, in the root-only state dir: `keys/NAME/current` (OpenSSH
//! private key, 0600) and `keys/NAME/retired.json` (the public keys of earlier rotations,
//! each with the time it stopped being used).

use std::path::{Path, PathBuf};

use ssh_key::{Algorithm, LineEnding, PrivateKey, PublicKey};

use crate::config::Town;
use crate::os::{OsContext, OsError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no resident named `{0}`\n  help: `townhall resident list` shows them")]
    NoResident(String),
    #[error(
        "the signing key {path} is not a valid OpenSSH Ed25519 private key: {detail}\n  help: move it away; `townhall keys` makes a new one (commits signed with the old one will not verify)"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(transparent)]
    Os(#[from] OsError),
}

/// A key that signed commits once and no longer does: still verifiable for older commits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retired {
    /// `ssh-ed25519 AAAA…`
    pub public: String,
    /// When it was rotated out, as allowed_signers' `valid-before` (YYYYMMDDHHMMSSZ).
    pub valid_before: String,
}

pub struct Keys {
    dir: PathBuf,
}

fn stamp(t: std::time::SystemTime) -> String {
    // RFC 3339 seconds (2026-12-01T18:15:00Z) → 20261201181500Z
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect::<String>()
        + "Z"
}

fn bare(public: &PublicKey) -> Result<String, KeyError> {
    let mut p = public.clone();
    p.set_comment("");
    Ok(p.to_openssh()
        .map_err(|e| OsError::new("encoding a public key", e))?
        .trim()
        .to_string())
}

impl Keys {
    pub fn new(state: &Path) -> Self {
        Self {
            dir: state.join("keys"),
        }
    }

    fn current_path(&self, resident: &str) -> PathBuf {
        self.dir.join(resident).join("current")
    }

    fn retired_path(&self, resident: &str) -> PathBuf {
        self.dir.join(resident).join("retired.json")
    }

    /// The resident's key, made on first need.
    pub fn get(&self, resident: &str) -> Result<PrivateKey, KeyError> {
        let path = self.current_path(resident);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key =
                    PrivateKey::from_openssh(text.as_bytes()).map_err(|e| KeyError::Corrupt {
                        path: path.clone(),
                        detail: e.to_string(),
                    })?;
                if key.algorithm() != Algorithm::Ed25519 {
                    return Err(KeyError::Corrupt {
                        path,
                        detail: format!("it is {}", key.algorithm()),
                    });
                }
                Ok(key)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.make(resident),
            Err(e) => Err(OsError::new(format!("reading {}", path.display()), e).into()),
        }
    }

    fn make(&self, resident: &str) -> Result<PrivateKey, KeyError> {
        let path = self.current_path(resident);
        let what = || format!("making the signing key {}", path.display());
        let mut key =
            PrivateKey::random(&mut ssh_key::rand_core::OsRng, Algorithm::Ed25519).os(what)?;
        key.set_comment(format!("townhall signing key for {resident}"));
        let pem = key.to_openssh(LineEnding::LF).os(what)?;
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path.parent().expect("has a parent"))
            .os(what)?;
        crate::os::write_atomic(&path, pem.as_bytes())?;
        tracing::info!(%resident, "made a signing key: {}", key.public_key().fingerprint(Default::default()));
        Ok(key)
    }

    pub fn public(&self, resident: &str) -> Result<String, KeyError> {
        bare(self.get(resident)?.public_key())
    }

    /// Rotated-out keys. A history that cannot be read would drop them from allowed_signers
    /// (old commits would stop verifying), so it is an error.
    pub fn retired(&self, resident: &str) -> Result<Vec<Retired>, KeyError> {
        let help = "it keeps old keys verifiable; restore it from a backup, or move it away and accept that commits signed with retired keys no longer verify";
        Ok(crate::os::read_state(&self.retired_path(resident), help)?.unwrap_or_default())
    }

    /// A new key for `resident`; the old one stays verifiable for commits made before now.
    pub fn rotate(&self, town: &Town, resident: &str) -> Result<String, KeyError> {
        town.resident(resident)
            .ok_or_else(|| KeyError::NoResident(resident.into()))?;
        let old = self.public(resident)?;
        let mut retired = self.retired(resident)?;
        retired.push(Retired {
            public: old,
            valid_before: stamp(std::time::SystemTime::now()),
        });
        let json = serde_json::to_vec_pretty(&retired)
            .map_err(|e| OsError::new("encoding retired keys", e))?;
        crate::os::write_atomic(&self.retired_path(resident), &json)?;
        std::fs::remove_file(self.current_path(resident))
            .os(|| format!("retiring {}", self.current_path(resident).display()))?;
        self.public(resident)
    }

    /// allowed_signers for the whole town: principal = the resident's git email, only for
    /// the `git` namespace; retired keys only for signatures made before they were retired.
    pub fn allowed_signers(&self, town: &Town) -> Result<String, KeyError> {
        let mut out = String::from(
            "# townhall: the residents' commit signing keys (principal = git email)\n",
        );
        for r in &town.residents {
            for old in self.retired(&r.name)? {
                out.push_str(&format!(
                    "{} namespaces=\"git\",valid-before=\"{}\" {}\n",
                    r.git.email, old.valid_before, old.public
                ));
            }
            out.push_str(&format!(
                "{} namespaces=\"git\" {}\n",
                r.git.email,
                self.public(&r.name)?
            ));
        }
        Ok(out)
    }

    /// Write allowed_signers world-readable where the mayor reads it.
    pub fn publish(&self, town: &Town, path: &Path) -> Result<(), KeyError> {
        let text = self.allowed_signers(town)?;
        let what = || format!("publishing {}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).os(what)?;
        }
        crate::os::write_atomic_mode(path, text.as_bytes(), 0o644)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_kept_root_only_and_rotated_verifiably() {
        let state = tempfile::tempdir().unwrap();
        let town = crate::testing::demo_town();
        let keys = Keys::new(state.path());
        let first = keys.public("ada").unwrap();
        assert!(first.starts_with("ssh-ed25519 AAAA"), "{first}");
        assert_eq!(
            keys.public("ada").unwrap(),
            first,
            "a second call made a new key"
        );
        use std::os::unix::fs::MetadataExt;
        let mode = std::fs::metadata(state.path().join("keys/ada/current"))
            .unwrap()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let second = keys.rotate(&town, "ada").unwrap();
        assert_ne!(second, first);
        let signers = keys.allowed_signers(&town).unwrap();
        let ada: Vec<&str> = signers
            .lines()
            .filter(|l| l.starts_with("ada@town.test"))
            .collect();
        assert_eq!(ada.len(), 2, "{signers}");
        assert!(
            ada[0].contains("valid-before=\"") && ada[0].ends_with(&first),
            "{}",
            ada[0]
        );
        assert_eq!(ada[1], format!("ada@town.test namespaces=\"git\" {second}"));
        assert!(matches!(
            keys.rotate(&town, "eve"),
            Err(KeyError::NoResident(_))
        ));
    }

    #[test]
    fn a_corrupt_key_is_an_error_not_a_new_key() {
        let state = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(state.path().join("keys/ada")).unwrap();
        std::fs::write(state.path().join("keys/ada/current"), "garbage").unwrap();
        assert!(matches!(
            Keys::new(state.path()).get("ada"),
            Err(KeyError::Corrupt { .. })
        ));
    }
}
