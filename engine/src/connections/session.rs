//! Connect sessions: made for a tenant by the embedding service, opened
//! once by the customer's browser, which is then sent to Salesforce's
//! authorize page with `state` (`<session id>.<nonce>`) and an S256
//! `code_challenge`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::hosts::redirect_allowed;
use super::settings::START_PATH;
use super::{ConnectError, Connections, OAuthApp};
use crate::model::{ConnectSession, OpenedSession, Sealed, now, random_text};

/// The longest tenant reference.
const MAX_TENANT_BYTES: usize = 256;

/// What the embedding service asks for (`POST /api/connect-sessions`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectSessionRequest {
    /// Its reference to the customer the connection is for.
    pub tenant: String,
    /// The OAuth app [default: the only one, or the one named `default`].
    #[serde(default)]
    pub app: Option<String>,
    /// Where the user logs in [default: the app's login host; the
    /// connection's for a reconnect].
    #[serde(default)]
    pub login_host: Option<String>,
    /// Where the browser is sent at the end, with `connection_id` or
    /// `error` and `error_description` added to its query.
    pub redirect_after: String,
    /// The connection to connect again: the user must log in to its org.
    #[serde(default)]
    pub reconnect: Option<String>,
}

/// A connect session made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedSession {
    /// The URL to send the customer's browser to: single-use, short-lived.
    pub url: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// The owner a session's sealed verifier is bound to.
pub(super) fn verifier_owner(session_id: &str) -> String {
    format!("session:{session_id}")
}

impl Connections {
    /// Makes a connect session: a single-use URL, good for the session
    /// time, that connects one of `request.tenant`'s orgs.
    pub async fn create_session(
        &self,
        request: ConnectSessionRequest,
    ) -> Result<CreatedSession, ConnectError> {
        let shared = &self.shared;
        let tenant = request.tenant.trim();
        if tenant.is_empty()
            || tenant.len() > MAX_TENANT_BYTES
            || tenant.chars().any(char::is_control)
        {
            return Err(ConnectError::Invalid(format!(
                "tenant is 1 to {MAX_TENANT_BYTES} bytes of text, the reference your service keeps for its customer"
            )));
        }
        let allowed = redirect_allowed(&shared.settings.redirect_allow, &request.redirect_after)
            || redirect_allowed(&[shared.settings.done_url()], &request.redirect_after);
        if !allowed {
            return Err(ConnectError::RedirectNotAllowed(request.redirect_after));
        }
        let reconnect = match &request.reconnect {
            Some(id) => {
                let record = self.record(id).await?;
                if record.tenant != tenant {
                    return Err(ConnectError::UnknownConnection(id.clone()));
                }
                Some(record)
            }
            None => None,
        };
        let app = match (&request.app, &reconnect) {
            (Some(name), _) => self.app(name).await?,
            (None, Some(record)) => self.app(&record.app).await?,
            (None, None) => self.default_app().await?,
        };
        if app.tenant.as_deref().is_some_and(|owner| owner != tenant) {
            return Err(ConnectError::AppOfOtherTenant(app.name));
        }
        let login_host = match (&request.login_host, &reconnect) {
            (Some(host), _) => host.clone(),
            (None, Some(record)) => record.login_host.clone(),
            (None, None) => app.login_host.clone(),
        };
        let login_host = shared.hosts.check(&login_host)?;
        let created_at = now();
        let expires_at = created_at
            + chrono::Duration::from_std(shared.settings.session_ttl)
                .unwrap_or(chrono::Duration::MAX);
        let session = ConnectSession {
            id: random_text(32),
            tenant: tenant.to_owned(),
            app: app.name,
            login_host,
            redirect_after: request.redirect_after,
            reconnect: reconnect.map(|record| record.id),
            created_at,
            expires_at,
            opened: None,
        };
        self.drop_expired_sessions().await;
        if !shared.store.swap_connect_session(None, &session).await? {
            return Err(ConnectError::Invalid(
                "a connect session id repeated; try again".into(),
            ));
        }
        Ok(CreatedSession {
            url: format!("{}{START_PATH}/{}", shared.settings.public_url, session.id),
            expires_at,
        })
    }

    /// The app a session naming none uses: the only one, or `default`.
    async fn default_app(&self) -> Result<OAuthApp, ConnectError> {
        let apps = self.apps().await?;
        let name = match apps.as_slice() {
            [] => return Err(ConnectError::NoApp),
            [only] => &only.name,
            _ if apps.iter().any(|app| app.name == "default") => "default",
            _ => {
                let names: Vec<_> = apps.iter().map(|app| app.name.as_str()).collect();
                return Err(ConnectError::AppNotNamed(names.join(", ")));
            }
        };
        self.app(name).await
    }

    /// Forgets sessions past their time.
    async fn drop_expired_sessions(&self) {
        let store = &self.shared.store;
        let Ok(sessions) = store.connect_sessions().await else {
            return;
        };
        let now = Utc::now();
        for session in sessions.iter().filter(|session| session.expires_at < now) {
            // Another caller dropping it first is as good.
            store.take_connect_session(session).await.ok();
        }
    }

    /// Opens connect session `id` (once): the Salesforce authorize URL to
    /// send the browser to.
    pub async fn open_session(&self, id: &str) -> Result<String, ConnectError> {
        let shared = &self.shared;
        let session = shared
            .store
            .connect_session(id)
            .await?
            .ok_or(ConnectError::UnknownSession)?;
        if session.expires_at < Utc::now() {
            return Err(ConnectError::SessionExpired);
        }
        if session.opened.is_some() {
            return Err(ConnectError::SessionUsed);
        }
        let app = self.app(&session.app).await?;
        let verifier = zeroize::Zeroizing::new(random_text(48));
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        let nonce = random_text(20);
        let mut opened = session.clone();
        opened.opened = Some(OpenedSession {
            nonce: nonce.clone(),
            verifier: Sealed(
                shared
                    .keys
                    .seal(&verifier_owner(&session.id), verifier.as_bytes()),
            ),
        });
        if !shared
            .store
            .swap_connect_session(Some(&session), &opened)
            .await?
        {
            return Err(ConnectError::SessionUsed);
        }
        let state = format!("{}.{nonce}", session.id);
        let scope = app.scopes.join(" ");
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &app.client_id)
            .append_pair("redirect_uri", &shared.settings.callback_url())
            .append_pair("scope", &scope)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        Ok(format!(
            "{}/services/oauth2/authorize?{query}",
            session.login_host
        ))
    }
}
