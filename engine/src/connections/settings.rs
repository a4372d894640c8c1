//! How connections are made and kept: the OAuth apps, where the customer's
//! browser comes back, which redirects are allowed, and the token timings.

use std::time::Duration;

use crate::salesforce::{DEFAULT_API_LIMIT_SHARE, Secret};

/// Salesforce's production login host.
pub const PRODUCTION_LOGIN_HOST: &str = "https://login.salesforce.com";

/// The scopes an OAuth app asks for unless it names its own: the REST API
/// and a refresh token.
pub const DEFAULT_SCOPES: [&str; 2] = ["api", "refresh_token"];

/// An OAuth app (a Salesforce connected app or External Client App) that
/// customers connect through: the platform's own, or a tenant's "bring
/// your own".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthApp {
    /// The name connect sessions and connections use.
    pub name: String,
    /// The consumer key.
    pub client_id: String,
    /// The consumer secret.
    pub client_secret: Secret,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// Where users log in unless a connect session names another host.
    pub login_host: String,
    /// The only tenant that may use it, for a tenant's own app.
    pub tenant: Option<String>,
    /// Ask Salesforce when each access token expires (the app must allow
    /// "Introspect All Tokens"); otherwise the session lifetime is assumed.
    pub introspect: bool,
}

impl OAuthApp {
    /// An app with the default scopes, logging in at Salesforce's
    /// production host.
    pub fn new(
        name: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
    ) -> Self {
        Self {
            name: name.into(),
            client_id: client_id.into(),
            client_secret,
            scopes: DEFAULT_SCOPES.map(str::to_owned).to_vec(),
            login_host: PRODUCTION_LOGIN_HOST.to_owned(),
            tenant: None,
            introspect: true,
        }
    }
}

/// The connection settings of an engine.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// The OAuth apps of the configuration (more can be created through
    /// the API).
    pub apps: Vec<OAuthApp>,
    /// Gust's address as the customer's browser sees it: connect URLs and
    /// the OAuth callback (`{public_url}/connect/salesforce/callback`,
    /// which each app must list as a callback URL) are under it.
    pub public_url: String,
    /// Where a connect session may send the browser at the end: URLs whose
    /// scheme, host and port are one of these and whose path starts with
    /// its path.
    pub redirect_allow: Vec<String>,
    /// Origins taken as Salesforce hosts besides Salesforce's own domains
    /// (a local sf-emulator).
    pub trusted_hosts: Vec<String>,
    /// How long a connect session can be used.
    pub session_ttl: Duration,
    /// How long an access token lives when introspection does not say (the
    /// org's session timeout).
    pub session_lifetime: Duration,
    /// How long a connection may go without a refresh before the
    /// keep-alive refreshes it (so that an idle refresh token does not
    /// expire).
    pub keep_alive: Duration,
    /// Where connection events are posted, if anywhere.
    pub events_url: Option<String>,
    /// The key connection events are signed with.
    pub events_secret: Option<Secret>,
    /// The share of each org's daily API requests a connection may spend.
    pub api_limit_share: f64,
}

impl ConnectSettings {
    /// Settings with no apps, for a server reached at `public_url`.
    pub fn new(public_url: impl Into<String>) -> Self {
        Self {
            apps: Vec::new(),
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            redirect_allow: Vec::new(),
            trusted_hosts: Vec::new(),
            session_ttl: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(2 * 3600),
            keep_alive: Duration::from_secs(24 * 3600),
            events_url: None,
            events_secret: None,
            api_limit_share: DEFAULT_API_LIMIT_SHARE,
        }
    }

    /// The OAuth callback URL.
    pub fn callback_url(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.public_url)
    }

    /// Gust's own end page.
    pub fn done_url(&self) -> String {
        format!("{}{DONE_PATH}", self.public_url)
    }
}

/// Where Salesforce sends the browser back to.
pub const CALLBACK_PATH: &str = "/connect/salesforce/callback";

/// Where a connect session's URL starts.
pub const START_PATH: &str = "/connect/salesforce/start";

/// Gust's own page a connect session may end on, always allowed: it says
/// whether the org was connected.
pub const DONE_PATH: &str = "/connect/done";
