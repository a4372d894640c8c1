//! The key ring's side of connections: every stored secret opened at
//! start, and sealed again under a new key.

use super::apps::app_owner;
use super::session::verifier_owner;
use super::tokens::Tokens;
use super::view::RotationReport;
use super::{ConnectError, Connections};
use crate::model::Sealed;
use crate::secrets::KeyRing;
use crate::store::{ConnectionStore, Written};

impl Connections {
    /// Seals every stored secret under the ring's active key (after a new
    /// key was put first in the ring); what was sealed again.
    pub fn rotate_keys(
        store: &dyn ConnectionStore,
        keys: &KeyRing,
    ) -> Result<RotationReport, ConnectError> {
        let mut report = RotationReport::default();
        for mut record in store.connections()? {
            let what = format!("the tokens of connection {}", record.id);
            let Some(tokens) = reseal(keys, record.id.as_str(), &record.tokens, &what)? else {
                continue;
            };
            record.tokens = tokens;
            if store.put_connection(&record, Some(record.version))? != Written::Done {
                return Err(ConnectError::Invalid(format!(
                    "{what} changed during the rotation: run it again"
                )));
            }
            report.connections += 1;
        }
        for mut app in store.oauth_apps()? {
            let what = format!("the client secret of OAuth app {}", app.name);
            let owner = app_owner(&app.name);
            if let Some(secret) = reseal(keys, &owner, &app.client_secret, &what)? {
                app.client_secret = secret;
                store.put_oauth_app(&app)?;
                report.apps += 1;
            }
        }
        for session in store.connect_sessions()? {
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
            if store.swap_connect_session(Some(&session), &resealed)? {
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

/// Opens every stored secret once, so that a key missing from the ring
/// stops the start, named, rather than a connection failing later.
pub(super) fn verify_secrets(
    store: &dyn ConnectionStore,
    keys: &KeyRing,
) -> Result<(), ConnectError> {
    for record in store.connections()? {
        Tokens::open(keys, &record.id, &record.tokens).map_err(|error| ConnectError::Secrets {
            what: format!("the tokens of connection {}", record.id),
            error,
        })?;
    }
    for app in store.oauth_apps()? {
        keys.open(&app_owner(&app.name), &app.client_secret.0)
            .map_err(|error| ConnectError::Secrets {
                what: format!("the client secret of OAuth app {}", app.name),
                error,
            })?;
    }
    Ok(())
}
