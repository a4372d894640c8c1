//! What the API and the library show of connections and OAuth apps: never
//! a token or a secret.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keeper::NEEDS_REAUTH;
use super::settings::OAuthApp;
use crate::model::{ApiUsage, ConnectionId, ConnectionRecord, ConnectionStatus, StoredOAuthApp};
use crate::salesforce::{SalesforceError, SalesforceService};

/// A connection as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionView {
    /// Its id.
    pub id: String,
    /// `store` for a connection made through the connect flow, `config`
    /// for the one `gust.toml` (or the local emulator) gives.
    pub source: String,
    /// The embedding service's tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The OAuth app.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Where its user logs in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_host: Option<String>,
    /// The org's instance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_url: Option<String>,
    /// The org's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The user's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The user's username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The scopes granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// How it is doing.
    pub status: ConnectionStatus,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// When it was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When its user last connected it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<DateTime<Utc>>,
    /// When its token was last refreshed.
    pub last_refresh: Option<DateTime<Utc>>,
    /// When a call last used it (written at most once a minute).
    pub last_used: Option<DateTime<Utc>>,
    /// The org's API usage, when Salesforce has reported it.
    pub api_usage: Option<ApiUsage>,
}

impl From<&ConnectionRecord> for ConnectionView {
    fn from(record: &ConnectionRecord) -> Self {
        Self {
            id: record.id.to_string(),
            source: "store".to_owned(),
            tenant: Some(record.tenant.clone()),
            app: Some(record.app.clone()),
            login_host: Some(record.login_host.clone()),
            instance_url: Some(record.instance_url.clone()),
            org_id: Some(record.org_id.clone()),
            user_id: Some(record.user_id.clone()),
            username: Some(record.username.clone()),
            scopes: record.scopes.clone(),
            status: record.status,
            last_error: record.last_error.clone(),
            created_at: Some(record.created_at),
            connected_at: Some(record.connected_at),
            last_refresh: record.last_refresh,
            last_used: record.last_used,
            api_usage: record.api_usage,
        }
    }
}

impl ConnectionView {
    /// The configured connection.
    pub(crate) fn configured(service: &dyn SalesforceService) -> Self {
        let usage = service.stats().and_then(|stats| stats.api_usage);
        Self {
            id: ConnectionId::DEFAULT.to_owned(),
            source: "config".to_owned(),
            tenant: None,
            app: None,
            login_host: None,
            instance_url: None,
            org_id: None,
            user_id: None,
            username: None,
            scopes: Vec::new(),
            status: ConnectionStatus::Active,
            last_error: None,
            created_at: None,
            connected_at: None,
            last_refresh: None,
            last_used: None,
            api_usage: usage.map(|usage| ApiUsage {
                used: usage.used,
                max: usage.max,
            }),
        }
    }
}

/// The answer of a connection check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Whether the live call succeeded.
    pub ok: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// `GUST_NEEDS_REAUTH` when the connection needs its user again.
    pub error_code: Option<String>,
    /// The connection after the call.
    pub connection: ConnectionView,
}

impl CheckResult {
    /// The result of a call that failed with `error` (or succeeded), on
    /// `connection` as it is after.
    pub(crate) fn new(error: Option<SalesforceError>, connection: ConnectionView) -> Self {
        let needs_reauth = matches!(
            connection.status,
            ConnectionStatus::NeedsReauth | ConnectionStatus::Revoked
        );
        Self {
            ok: error.is_none(),
            error: error.map(|error| error.to_string()),
            error_code: needs_reauth.then(|| NEEDS_REAUTH.to_owned()),
            connection,
        }
    }
}

/// The answer of a deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// The connection deleted.
    pub id: ConnectionId,
    /// Whether Salesforce revoked its refresh token.
    pub revoked: bool,
    /// Why it did not.
    pub revoke_error: Option<String>,
}

/// What was sealed again by a key rotation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationReport {
    /// Connections whose tokens were sealed again.
    pub connections: usize,
    /// OAuth apps whose secrets were sealed again.
    pub apps: usize,
    /// Open connect sessions whose verifiers were sealed again.
    pub sessions: usize,
}

/// An OAuth app as the API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppView {
    /// Its name.
    pub name: String,
    /// The consumer key.
    pub client_id: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The default login host.
    pub login_host: String,
    /// The tenant it belongs to, if one.
    pub tenant: Option<String>,
}

impl From<&OAuthApp> for AppView {
    fn from(app: &OAuthApp) -> Self {
        Self {
            name: app.name.clone(),
            client_id: app.client_id.clone(),
            scopes: app.scopes.clone(),
            login_host: app.login_host.clone(),
            tenant: app.tenant.clone(),
        }
    }
}

impl From<&StoredOAuthApp> for AppView {
    fn from(app: &StoredOAuthApp) -> Self {
        Self {
            name: app.name.clone(),
            client_id: app.client_id.clone(),
            scopes: app.scopes.clone(),
            login_host: app.login_host.clone(),
            tenant: app.tenant.clone(),
        }
    }
}

/// An OAuth app to create (`POST /api/oauth-apps`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOAuthApp {
    /// Its name.
    pub name: String,
    /// The consumer key.
    pub client_id: String,
    /// The consumer secret (sealed when stored).
    pub client_secret: String,
    /// The scopes [default: api refresh_token].
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// The default login host [default: Salesforce's production login host].
    #[serde(default)]
    pub login_host: Option<String>,
    /// The tenant it belongs to, for a tenant's own app.
    #[serde(default)]
    pub tenant: Option<String>,
}

impl std::fmt::Debug for NewOAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOAuthApp")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}
