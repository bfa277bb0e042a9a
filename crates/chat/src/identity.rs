//! A resident's Matrix identity: logged in once with the password from its credential
//! file, then restored from the saved session at every start (same device, same keys).

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::encryption::recovery::RecoveryState;
use matrix_sdk::encryption::{BackupDownloadStrategy, EncryptionSettings};
use matrix_sdk::store::RoomLoadSettings;
use matrix_sdk::{Client, SessionChange};

use townhall_config::{Resident, Town};
use townhall_os::{OsContext, OsError};

pub struct Identity {
    pub client: Client,
    /// Logged in just now: the first sync holds history, not messages to answer.
    pub fresh: bool,
}

/// The resident's Matrix store and session, under the chat's own state dir.
pub fn store_dir(root: &Path, r: &Resident) -> PathBuf {
    root.join(&r.name)
}

fn save(path: &Path, session: &MatrixSession) -> Result<(), OsError> {
    townhall_os::write_state(path, session)
}

pub async fn connect(town: &Town, r: &Resident, root: &Path) -> Result<Identity, OsError> {
    let dir = store_dir(root, r);
    let what = || format!("starting the Matrix client of {}", r.name);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .os(what)?;
    let session_path = dir.join("session.json");
    let saved: Option<MatrixSession> = std::fs::read(&session_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if saved.is_none() {
        // A store without its session cannot be logged into again ("account in the store
        // doesn't match"): start it afresh.
        for entry in std::fs::read_dir(&dir).os(what)?.flatten() {
            if entry.file_name() != "session.json" {
                let _ = std::fs::remove_file(entry.path())
                    .or_else(|_| std::fs::remove_dir_all(entry.path()));
            }
        }
    }
    // Cross-signing is bootstrapped at first login (Synapse allows the first upload without
    // re-authentication), so the mayor's clients can verify the resident's device.
    let encryption = EncryptionSettings {
        auto_enable_cross_signing: true,
        auto_enable_backups: r.matrix.recovery_file.is_some(),
        backup_download_strategy: BackupDownloadStrategy::AfterDecryptionFailure,
    };
    let client = Client::builder()
        .homeserver_url(&town.matrix.homeserver)
        .sqlite_store(&dir, None)
        .handle_refresh_tokens()
        .with_encryption_settings(encryption)
        .build()
        .await
        .os(what)?;
    let fresh = match saved {
        Some(s) => {
            client
                .matrix_auth()
                .restore_session(s, RoomLoadSettings::default())
                .await
                .os(what)?;
            false
        }
        None => {
            let file = super::credentials::password(r);
            let password = std::fs::read_to_string(&file).os(|| {
                format!(
                    "reading the Matrix password of {} from {}",
                    r.name,
                    file.display()
                )
            })?;
            client
                .matrix_auth()
                .login_username(&r.matrix.user, password.trim_end_matches(['\n', '\r']))
                .initial_device_display_name(&format!("townhall ({})", r.name))
                .request_refresh_token()
                .send()
                .await
                .os(|| format!("logging in as {}", r.matrix.user))?;
            let session = client
                .matrix_auth()
                .session()
                .ok_or_else(|| OsError::new(what(), "no session after login"))?;
            save(&session_path, &session)?;
            // A profile change is slow on Synapse (it rewrites every membership): only when it differs.
            if client
                .account()
                .get_display_name()
                .await
                .ok()
                .flatten()
                .as_deref()
                != Some(r.description.as_str())
            {
                let _ = client
                    .account()
                    .set_display_name(Some(&r.description))
                    .await;
            }
            if let Some(path) = super::credentials::recovery(r) {
                recovery(&client, &path).await?;
            }
            true
        }
    };
    // Refreshed tokens are saved; an unknown token means the next start logs in afresh.
    let mut changes = client.subscribe_to_session_changes();
    let watch = client.clone();
    tokio::spawn(async move {
        while let Ok(change) = changes.recv().await {
            match change {
                SessionChange::TokensRefreshed => {
                    if let Some(s) = watch.matrix_auth().session()
                        && let Err(e) = save(&session_path, &s)
                    {
                        tracing::warn!("{e}");
                    }
                }
                SessionChange::UnknownToken(_) => {
                    tracing::warn!(
                        "the homeserver forgot our token: logging in again at the next start"
                    );
                    let _ = std::fs::remove_file(&session_path);
                }
            }
        }
    });
    Ok(Identity { client, fresh })
}

/// With a recovery passphrase: a new device recovers the resident's secrets (cross-signing
/// keys, key backup) from the server; the first device ever sets recovery up.
async fn recovery(client: &Client, path: &Path) -> Result<(), OsError> {
    let what = || format!("setting up recovery from {}", path.display());
    let passphrase = std::fs::read_to_string(path).os(what)?;
    let passphrase = passphrase.trim_end_matches(['\n', '\r']);
    client
        .encryption()
        .wait_for_e2ee_initialization_tasks()
        .await;
    let recovery = client.encryption().recovery();
    match recovery.state() {
        RecoveryState::Disabled => {
            recovery
                .enable()
                .with_passphrase(passphrase)
                .await
                .os(what)?;
        }
        RecoveryState::Enabled => {}
        _ => recovery.recover(passphrase).await.os(what)?,
    }
    Ok(())
}
