//! The OAuth callback: the session spent once, the code exchanged with the
//! client secret and the PKCE verifier, the answer's `signature` checked
//! in constant time, its hosts checked, the org and user read from the
//! identity URL, and the connection stored with its tokens sealed.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use hmac::Mac;
use reqwest::Url;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::session::verifier_owner;
use super::tokens::Tokens;
use super::{ConnectError, Connections, OAuthApp};
use crate::model::{
    ConnectSession, ConnectionEventKind, ConnectionId, ConnectionIdentity, ConnectionRecord,
    ConnectionStatus, now,
};
use crate::salesforce::{Secret, token_lifetime};
use crate::store::Written;

/// Where the callback sends the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// Back to the session's `redirect_after`, with `connection_id` or an
    /// error in the query.
    Redirect(String),
    /// Nowhere safe (no session): show this error.
    Refused(String),
}

/// The token endpoint's answer to the code exchange.
#[derive(Deserialize)]
struct CodeAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    instance_url: String,
    id: String,
    issued_at: String,
    signature: String,
    #[serde(default)]
    scope: String,
}

/// Salesforce's OAuth error body.
#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// What the identity URL answers.
#[derive(Deserialize)]
struct Identity {
    username: String,
    organization_id: String,
    user_id: String,
}

/// What the callback learned from Salesforce.
struct Granted {
    tokens: Tokens,
    instance_url: String,
    org_id: String,
    user_id: String,
    username: String,
    scopes: Vec<String>,
}

impl Connections {
    /// Handles Salesforce's redirect back (its query): where to send the
    /// browser.
    pub async fn callback(&self, query: &HashMap<String, String>) -> CallbackOutcome {
        let session = match self.spend_session(query).await {
            Ok(session) => session,
            Err(error) => {
                tracing::warn!(%error, "A connect callback was refused.");
                return CallbackOutcome::Refused(error.to_string());
            }
        };
        match self.finish(&session, query).await {
            Ok(id) => CallbackOutcome::Redirect(with_query(
                &session.redirect_after,
                &[("connection_id", id.as_str())],
            )),
            Err(error) => {
                tracing::warn!(%error, tenant = %session.tenant, "A connect callback was refused.");
                let description = match &error {
                    ConnectError::Salesforce { description, .. } => description.clone(),
                    other => other.to_string(),
                };
                CallbackOutcome::Redirect(with_query(
                    &session.redirect_after,
                    &[("error", error.code()), ("error_description", &description)],
                ))
            }
        }
    }

    /// The session the callback's `state` names, spent: a forged, reused
    /// or expired state is refused.
    async fn spend_session(
        &self,
        query: &HashMap<String, String>,
    ) -> Result<ConnectSession, ConnectError> {
        let state = query
            .get("state")
            .ok_or_else(|| ConnectError::MalformedCallback("it has no state".into()))?;
        let (id, nonce) = state.split_once('.').ok_or(ConnectError::InvalidState)?;
        let session = self
            .shared
            .store
            .connect_session(id)
            .await?
            .ok_or(ConnectError::InvalidState)?;
        let opened = session.opened.as_ref().ok_or(ConnectError::InvalidState)?;
        if !bool::from(opened.nonce.as_bytes().ct_eq(nonce.as_bytes())) {
            return Err(ConnectError::InvalidState);
        }
        if !self.shared.store.take_connect_session(&session).await? {
            return Err(ConnectError::SessionUsed);
        }
        if session.expires_at < Utc::now() {
            return Err(ConnectError::SessionExpired);
        }
        Ok(session)
    }

    /// The rest of the callback, once the session is spent: the new (or
    /// reconnected) connection's id.
    async fn finish(
        &self,
        session: &ConnectSession,
        query: &HashMap<String, String>,
    ) -> Result<ConnectionId, ConnectError> {
        if let Some(error) = query.get("error") {
            return Err(ConnectError::Salesforce {
                error: error.clone(),
                description: query.get("error_description").cloned().unwrap_or_default(),
            });
        }
        let code = query
            .get("code")
            .filter(|code| !code.is_empty())
            .ok_or_else(|| {
                ConnectError::MalformedCallback("it has neither code nor error".into())
            })?;
        let app = self.app(&session.app).await?;
        let granted = self.exchange(session, &app, code).await?;
        let stored = self.store_connection(session, &granted).await;
        if stored.is_err() {
            // Salesforce keeps at most five grants per user and app: do not
            // leave one behind for a connection not stored.
            let refresh_token = &granted.tokens.refresh_token;
            if let Err(revoke) = self.revoke(&session.login_host, refresh_token).await {
                tracing::warn!(error = %revoke, "A refused connection's token could not be revoked.");
            }
        }
        stored
    }

    /// Exchanges `code`, checks the answer and reads the identity.
    async fn exchange(
        &self,
        session: &ConnectSession,
        app: &OAuthApp,
        code: &str,
    ) -> Result<Granted, ConnectError> {
        let shared = &self.shared;
        let opened = session.opened.as_ref().ok_or(ConnectError::InvalidState)?;
        let verifier = shared
            .keys
            .open(&verifier_owner(&session.id), &opened.verifier.0)
            .map_err(|error| ConnectError::Secrets {
                what: "the connect session's verifier".into(),
                error,
            })?;
        let verifier = std::str::from_utf8(&verifier)
            .map_err(|_| ConnectError::Invalid("the stored verifier is not text".into()))?;
        let url = format!("{}/services/oauth2/token", session.login_host);
        let callback = shared.settings.callback_url();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("client_id", &app.client_id),
            ("client_secret", app.client_secret.expose()),
            ("redirect_uri", &callback),
            ("code_verifier", verifier),
        ];
        let response = shared
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|error| ConnectError::Network(format!("{url}: {error}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|error| ConnectError::Network(format!("{url}: {error}")))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<OAuthErrorBody>(&body) {
                Ok(refusal) => ConnectError::Salesforce {
                    error: refusal.error,
                    description: refusal.error_description,
                },
                Err(_) => ConnectError::Network(format!("{url} answered {status}")),
            });
        }
        let answer: CodeAnswer = serde_json::from_slice(&body).map_err(|error| {
            ConnectError::MalformedCallback(format!("the token answer is not one: {error}"))
        })?;
        verify_signature(app, &answer)?;
        let refresh_token = answer.refresh_token.clone().ok_or_else(|| {
            ConnectError::Invalid(format!(
                "Salesforce handed out no refresh token: give the OAuth app `{}` the refresh_token scope (and the connected app \"Perform requests at any time\")",
                app.name
            ))
        })?;
        let instance_url = shared.hosts.check(&answer.instance_url)?;
        let (id_origin, org_id, user_id) = parse_identity_url(&answer.id)?;
        shared.hosts.check(&id_origin)?;
        let identity = self.identity(&answer.id, &answer.access_token).await?;
        if identity.organization_id != org_id || identity.user_id != user_id {
            return Err(ConnectError::IdentityUrl(answer.id));
        }
        let access_token = Secret::new(answer.access_token);
        let lifetime = match app.introspect {
            true => {
                let app_credentials = (app.client_id.as_str(), &app.client_secret);
                token_lifetime(&shared.http, &instance_url, app_credentials, &access_token).await
            }
            false => None,
        }
        .unwrap_or(shared.settings.session_lifetime);
        Ok(Granted {
            tokens: Tokens {
                access_token: access_token.expose().to_owned(),
                refresh_token,
                expires_at: Some(
                    Utc::now() + chrono::Duration::from_std(lifetime).unwrap_or_default(),
                ),
            },
            instance_url,
            org_id,
            user_id,
            username: identity.username,
            scopes: answer.scope.split_whitespace().map(str::to_owned).collect(),
        })
    }

    /// Reads the identity URL with the new token.
    async fn identity(&self, url: &str, access_token: &str) -> Result<Identity, ConnectError> {
        let response = self
            .shared
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|error| ConnectError::Network(format!("{url}: {error}")))?;
        if !response.status().is_success() {
            return Err(ConnectError::Network(format!(
                "the identity URL {url} answered {}",
                response.status()
            )));
        }
        response
            .json()
            .await
            .map_err(|error| ConnectError::IdentityUrl(format!("{url} ({error})")))
    }

    /// Stores the connection of `granted`: a reconnect's, the one of the
    /// same tenant, org, user and app, or a new one.
    async fn store_connection(
        &self,
        session: &ConnectSession,
        granted: &Granted,
    ) -> Result<ConnectionId, ConnectError> {
        let store = &self.shared.store;
        let identity = ConnectionIdentity {
            tenant: session.tenant.clone(),
            org_id: granted.org_id.clone(),
            user_id: granted.user_id.clone(),
            app: session.app.clone(),
        };
        for _ in 0..4 {
            let existing = match &session.reconnect {
                Some(id) => {
                    let record = store
                        .connection(id)
                        .await?
                        .ok_or_else(|| ConnectError::UnknownConnection(id.to_string()))?;
                    if record.org_id != granted.org_id {
                        return Err(ConnectError::WrongOrg {
                            expected: record.org_id,
                            got: granted.org_id.clone(),
                        });
                    }
                    Some(record)
                }
                None => store.connection_by_identity(&identity).await?,
            };
            let at = now();
            let id = existing
                .as_ref()
                .map_or_else(ConnectionId::random, |record| record.id.clone());
            let record = ConnectionRecord {
                id: id.clone(),
                tenant: session.tenant.clone(),
                app: session.app.clone(),
                login_host: session.login_host.clone(),
                instance_url: granted.instance_url.clone(),
                org_id: granted.org_id.clone(),
                user_id: granted.user_id.clone(),
                username: granted.username.clone(),
                scopes: granted.scopes.clone(),
                status: ConnectionStatus::Active,
                last_error: None,
                created_at: existing.as_ref().map_or(at, |record| record.created_at),
                connected_at: at,
                last_refresh: None,
                last_used: existing.as_ref().and_then(|record| record.last_used),
                api_usage: existing.as_ref().and_then(|record| record.api_usage),
                tokens: granted.tokens.seal(&self.shared.keys, &id),
                version: 0,
            };
            let expected = existing.as_ref().map(|record| record.version);
            match store.put_connection(&record, expected).await? {
                Written::Done => {
                    self.shared.clients().remove(&id);
                    self.shared
                        .tell(ConnectionEventKind::Created, &record, None)
                        .await;
                    tracing::info!(connection = %id, tenant = %record.tenant, org = %record.org_id, "A connection was made.");
                    return Ok(id);
                }
                Written::Stale => continue,
                Written::IdentityTaken(other) if session.reconnect.is_some() => {
                    return Err(ConnectError::Duplicate(other.to_string()));
                }
                Written::IdentityTaken(_) => continue,
            }
        }
        Err(ConnectError::Invalid(
            "the connection kept changing while it was stored; connect again".into(),
        ))
    }
}

/// Checks the answer's `signature`: base64 of HMAC-SHA256 of `id` and
/// `issued_at` under the client secret, compared in constant time.
fn verify_signature(app: &OAuthApp, answer: &CodeAnswer) -> Result<(), ConnectError> {
    let signature = STANDARD
        .decode(answer.signature.trim())
        .map_err(|_| ConnectError::Signature)?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(app.client_secret.expose().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(answer.id.as_bytes());
    mac.update(answer.issued_at.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| ConnectError::Signature)
}

/// The origin, org id and user id of an identity URL
/// (`https://login.salesforce.com/id/00D.../005...`).
fn parse_identity_url(id: &str) -> Result<(String, String, String), ConnectError> {
    let refuse = || ConnectError::IdentityUrl(id.to_owned());
    let url = Url::parse(id).map_err(|_| refuse())?;
    let segments: Vec<&str> = url.path_segments().ok_or_else(refuse)?.collect();
    let [.., "id", org, user] = segments.as_slice() else {
        return Err(refuse());
    };
    let is_id = |text: &str, prefix: &str| {
        text.starts_with(prefix)
            && matches!(text.len(), 15 | 18)
            && text.bytes().all(|b| b.is_ascii_alphanumeric())
    };
    if !is_id(org, "00D") || !is_id(user, "005") {
        return Err(refuse());
    }
    let origin = url.origin().ascii_serialization();
    Ok((origin, (*org).to_owned(), (*user).to_owned()))
}

/// `base` with `pairs` added to its query.
fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    match Url::parse(base) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.into()
        }
        Err(_) => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_urls_give_their_org_and_user() {
        let (origin, org, user) = parse_identity_url(
            "https://login.salesforce.com/id/00D5g000004EmuLEAS/0055g00000AbCdEAAZ",
        )
        .unwrap();
        assert_eq!(origin, "https://login.salesforce.com");
        assert_eq!(org, "00D5g000004EmuLEAS");
        assert_eq!(user, "0055g00000AbCdEAAZ");
        for bad in [
            "https://login.salesforce.com/id/00D5g000004EmuLEAS",
            "https://login.salesforce.com/id/001000000000001/005000000000001",
            "https://login.salesforce.com/id/00D000000000001/005000000000001/x",
            "https://login.salesforce.com/id/00D0000000000!1/005000000000001",
            "not a url",
        ] {
            assert!(parse_identity_url(bad).is_err(), "{bad}");
        }
    }
}
