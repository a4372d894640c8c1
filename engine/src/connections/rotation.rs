//! The key ring's side of connections: every stored secret opened at
//! start, and sealed again under a new key.

use super::apps::app_owner;
use super::session::verifier_owner;
use super::view::RotationReport;
use super::{ConnectError, Connections};
use crate::model::Sealed;
use crate::secrets::KeyRing;
use crate::store::ConnectionStore;

impl Connections {
    /// Seals every stored secret under the ring's active key (after a new
    /// key was put first in the ring); what was sealed again.
    pub async fn rotate_keys(
        store: &dyn ConnectionStore,
        keys: &KeyRing,
    ) -> Result<RotationReport, ConnectError> {
        let mut report = RotationReport::default();
        for record in store.connections().await? {
            let what = format!("the tokens of connection {}", record.id);
            let mut failed = None;
            let updated = store
                .update_connection(&record.id, &mut |record| match reseal(
                    keys,
                    record.id.as_str(),
                    &record.tokens,
                    &what,
                ) {
                    Ok(Some(tokens)) => {
                        record.tokens = tokens;
                        true
                    }
                    Ok(None) => false,
                    Err(error) => {
                        failed = Some(error);
                        false
                    }
                })
                .await?;
            if let Some(error) = failed {
                return Err(error);
            }
            if updated.is_some() {
                report.connections += 1;
            }
        }
        for mut app in store.oauth_apps().await? {
            let what = format!("the client secret of OAuth app {}", app.name);
            let owner = app_owner(&app.name);
            if let Some(secret) = reseal(keys, &owner, &app.client_secret, &what)? {
                app.client_secret = secret;
                store.put_oauth_app(&app).await?;
                report.apps += 1;
            }
        }
        for session in store.connect_sessions().await? {
            let Some(opened) = &session.opened else {
                continue;
            };
            let what = "an open connect session's verifier";
            let owner = verifier_owner(&session.id);
            let Some(verifier) = reseal(keys, &owner, &opened.verifier, what)? else {
                continue;
            };
            let mut resealed = session.clone();
            if let Some(opened) = &mut resealed.opened {
                opened.verifier = verifier;
            }
            if store
                .swap_connect_session(Some(&session), &resealed)
                .await?
            {
                report.sessions += 1;
            }
        }
        Ok(report)
    }
}

/// `sealed` (`what`, bound to `owner`) sealed under the active key; `None`
/// when it is already.
fn reseal(
    keys: &KeyRing,
    owner: &str,
    sealed: &Sealed,
    what: &str,
) -> Result<Option<Sealed>, ConnectError> {
    let secrets = |error| ConnectError::Secrets {
        what: what.to_owned(),
        error,
    };
    if !keys.needs_reseal(&sealed.0).map_err(secrets)? {
        return Ok(None);
    }
    let secret = keys.open(owner, &sealed.0).map_err(secrets)?;
    Ok(Some(Sealed(keys.seal(owner, &secret))))
}

/// Checks that the ring holds the key of every stored secret, so that a
/// key missing from it stops the start, named, rather than a connection
/// failing later.
pub(super) async fn verify_secrets(
    store: &dyn ConnectionStore,
    keys: &KeyRing,
) -> Result<(), ConnectError> {
    for record in store.connections().await? {
        keys.check_key(&record.tokens.0)
            .map_err(|error| ConnectError::Secrets {
                what: format!("the tokens of connection {}", record.id),
                error,
            })?;
    }
    for app in store.oauth_apps().await? {
        keys.check_key(&app.client_secret.0)
            .map_err(|error| ConnectError::Secrets {
                what: format!("the client secret of OAuth app {}", app.name),
                error,
            })?;
    }
    Ok(())
}
