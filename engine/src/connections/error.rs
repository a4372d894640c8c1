//! Why a connection operation was refused.

use crate::secrets::SecretsError;
use crate::store::StoreError;

use super::hosts::HostRefusal;

/// A refused connection operation: what went wrong and how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No OAuth app is configured.
    #[error(
        "no OAuth app is configured: add [oauth_apps.<name>] to gust.toml or create one with POST /api/oauth-apps"
    )]
    NoApp,
    /// Several apps are configured and the request named none.
    #[error("several OAuth apps are configured ({0}): name one with `app`")]
    AppNotNamed(String),
    /// The named app does not exist.
    #[error("there is no OAuth app `{0}`")]
    UnknownApp(String),
    /// The app belongs to another tenant.
    #[error("the OAuth app `{0}` belongs to another tenant")]
    AppOfOtherTenant(String),
    /// A request field is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A host is not Salesforce's.
    #[error(transparent)]
    Host(#[from] HostRefusal),
    /// `redirect_after` is not on the allow-list.
    #[error(
        "redirect_after `{0}` is not allowed: add its origin (and path) to the connect redirect allow-list (`redirect_allow` in [connect] of gust.toml, or GUST_CONNECT_REDIRECT_ALLOW)"
    )]
    RedirectNotAllowed(String),
    /// No such connection.
    #[error("there is no connection `{0}`")]
    UnknownConnection(String),
    /// No such connect session (or a forged one).
    #[error("this connect link is not valid: ask the application that sent you for a new one")]
    UnknownSession,
    /// The session's time is up.
    #[error("this connect link has expired: ask the application that sent you for a new one")]
    SessionExpired,
    /// The session was used already.
    #[error("this connect link was used already: ask the application that sent you for a new one")]
    SessionUsed,
    /// The callback's `state` is not one Gust sent.
    #[error(
        "the callback's state is not one Gust sent (a forged or replayed callback); nothing was stored"
    )]
    InvalidState,
    /// The callback is not what Salesforce sends.
    #[error("the callback is malformed: {0}")]
    MalformedCallback(String),
    /// Salesforce refused (the user denied access, the app is not
    /// installed, the code exchange failed).
    #[error("Salesforce refused: {error}: {description}")]
    Salesforce {
        /// Salesforce's `error`.
        error: String,
        /// Its `error_description`.
        description: String,
    },
    /// The token answer's signature does not verify.
    #[error(
        "the token answer's signature does not match its id and issued_at under the app's client secret; nothing was stored"
    )]
    Signature,
    /// The identity URL is not one.
    #[error("the identity URL `{0}` is not Salesforce's /id/<org>/<user>")]
    IdentityUrl(String),
    /// A reconnect landed in another org.
    #[error(
        "the reconnect logged in to the org {got}, but the connection is for the org {expected}: log in to {expected}"
    )]
    WrongOrg {
        /// The connection's org.
        expected: String,
        /// The org the user logged in to.
        got: String,
    },
    /// Another connection has the same tenant, org, user and app.
    #[error("the connection {0} already has this tenant, org, user and app")]
    Duplicate(String),
    /// Salesforce could not be reached.
    #[error("Salesforce could not be reached: {0}")]
    Network(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored secret does not open.
    #[error("{what}: {error}")]
    Secrets {
        /// Whose secret.
        what: String,
        /// Why.
        error: SecretsError,
    },
    /// A client could not be built.
    #[error("the connection's client: {0}")]
    Client(String),
}

impl ConnectError {
    /// The HTTP status that answers it (the admin API's, the inspector's).
    pub fn status(&self) -> reqwest::StatusCode {
        use reqwest::StatusCode;
        match self {
            Self::UnknownConnection(_) | Self::UnknownApp(_) | Self::UnknownSession => {
                StatusCode::NOT_FOUND
            }
            Self::SessionExpired | Self::SessionUsed => StatusCode::GONE,
            Self::Store(_) | Self::Network(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Secrets { .. } | Self::Client(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Duplicate(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The `error` a redirect back to the embedding service carries.
    pub fn code(&self) -> &str {
        match self {
            Self::Salesforce { error, .. } => error,
            Self::SessionExpired => "gust_session_expired",
            Self::SessionUsed => "gust_session_used",
            Self::InvalidState | Self::UnknownSession => "gust_invalid_state",
            Self::MalformedCallback(_) => "gust_malformed_callback",
            Self::Signature => "gust_invalid_signature",
            Self::IdentityUrl(_) | Self::Host(_) => "gust_untrusted_host",
            Self::WrongOrg { .. } => "gust_wrong_org",
            Self::Duplicate(_) => "gust_duplicate_connection",
            Self::Network(_) => "gust_salesforce_unreachable",
            _ => "gust_error",
        }
    }
}
