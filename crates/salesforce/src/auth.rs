//! Access tokens: fetched from the OAuth token endpoint, cached, refreshed
//! ahead of their expiry when it is known, and refreshed once however many
//! calls find the token expired at once. A [`TokenListener`] hears of every
//! token fetched and every refusal, to keep them beyond the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::client::{ClientError, exchange};
use super::jwt::JwtSigner;
use super::settings::{Auth, Connection, Secret};
use super::{Result, SalesforceError};

/// What a call needs to reach the org.
#[derive(Debug)]
pub(crate) struct Token {
    /// The bearer token.
    pub(crate) access_token: Secret,
    /// The org's instance, without a trailing slash.
    pub(crate) instance_url: String,
    /// When to fetch another before using it, when its expiry is known.
    refresh_at: Option<Instant>,
    /// Counts the tokens fetched, so that a refresh can tell whether
    /// another caller replaced this one already.
    generation: u64,
}

/// A token the token endpoint handed out, as a [`TokenListener`] hears of
/// it.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The access token.
    pub access_token: Secret,
    /// A new refresh token, when Salesforce rotated the one used.
    pub refresh_token: Option<Secret>,
    /// The instance the answer named, or the one known before when it
    /// named none.
    pub instance_url: String,
    /// When the access token stops working, when known.
    pub expires_at: Option<SystemTime>,
}

/// A token a client starts with instead of fetching one, such as a stored
/// connection's.
#[derive(Debug, Clone)]
pub struct StartingToken {
    /// The access token.
    pub access_token: Secret,
    /// Its instance.
    pub instance_url: String,
    /// When it stops working, when known.
    pub expires_at: Option<SystemTime>,
}

/// Hears of a connection's tokens: where a client's tokens are kept beyond
/// it (an encrypted store), and who learns that a connection needs its user
/// again.
#[async_trait]
pub trait TokenListener: Send + Sync + std::fmt::Debug {
    /// A token was fetched. Called before the token is used, with the
    /// client's other fetches waiting; an error refuses the token (an
    /// instance outside the hosts allowed), and the call fails with it.
    async fn fetched(&self, grant: &TokenGrant) -> Result<()>;
    /// The token endpoint refused to hand out a token (`invalid_grant`
    /// when the refresh token was revoked or expired, `invalid_client`,
    /// or a transient failure).
    async fn refused(&self, error: &SalesforceError);
}

/// The OAuth token endpoint's success answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    instance_url: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// The introspection endpoint's answer.
#[derive(Deserialize)]
struct Introspection {
    #[serde(default)]
    active: bool,
    #[serde(default)]
    exp: Option<i64>,
}

/// How long `access_token` has left, as the instance's introspection
/// endpoint tells the app (`client_id`, `client_secret`) that asks; `None`
/// when the app may not introspect, the token is not live, or the endpoint
/// cannot be reached.
pub async fn token_lifetime(
    http: &reqwest::Client,
    instance_url: &str,
    (client_id, client_secret): (&str, &Secret),
    access_token: &Secret,
) -> Option<Duration> {
    let form = [
        ("token", access_token.expose()),
        ("token_type_hint", "access_token"),
        ("client_id", client_id),
        ("client_secret", client_secret.expose()),
    ];
    let url = format!("{instance_url}/services/oauth2/introspect");
    let (status, body) = exchange(http.post(&url).form(&form)).await.ok()?;
    if !status.is_success() {
        tracing::debug!(%status, "Token introspection refused; using the session lifetime.");
        return None;
    }
    let answer: Introspection = serde_json::from_slice(&body).ok()?;
    let expires = answer.exp.filter(|_| answer.active)?;
    let now = chrono::Utc::now().timestamp();
    u64::try_from(expires - now).ok().map(Duration::from_secs)
}

/// When to replace a token that lives `lifetime` from now: a tenth of its
/// life before its end, at most five minutes before.
fn refresh_at(lifetime: Duration) -> Instant {
    Instant::now() + lifetime - (lifetime / 10).min(Duration::from_secs(300))
}

/// The cached token of one connection.
#[derive(Debug)]
pub(crate) struct Authenticator {
    auth: Auth,
    /// Signs the JWT bearer flow's assertions.
    signer: Option<JwtSigner>,
    login_url: String,
    configured_instance: Option<String>,
    session_lifetime: Option<Duration>,
    introspect: bool,
    listener: Option<Arc<dyn TokenListener>>,
    /// The current token and, for the refresh token flow, the refresh token
    /// (Salesforce may rotate it). Held across a fetch, so concurrent
    /// callers wait for one fetch instead of starting their own.
    state: Mutex<State>,
    /// Tokens fetched to replace a refused or expiring one.
    refreshes: AtomicU64,
}

#[derive(Debug)]
struct State {
    token: Option<Arc<Token>>,
    refresh_token: Option<Secret>,
    /// The instance the last token response named.
    instance_url: Option<String>,
    fetched: u64,
    /// The last refusal of a refresh, and the generation of the token it
    /// was to replace: callers that found the same token refused get this
    /// answer instead of asking again.
    refusal: Option<(u64, SalesforceError)>,
}

impl Authenticator {
    pub(crate) fn new(
        connection: &Connection,
        starting: Option<StartingToken>,
        listener: Option<Arc<dyn TokenListener>>,
    ) -> Result<Self, ClientError> {
        let signer = match &connection.auth {
            Auth::JwtBearer { private_key, .. } => {
                Some(JwtSigner::from_pem(private_key.expose()).map_err(ClientError::PrivateKey)?)
            }
            _ => None,
        };
        let refresh_token = match &connection.auth {
            Auth::RefreshToken { refresh_token, .. } => Some(refresh_token.clone()),
            _ => None,
        };
        let instance_url = starting.as_ref().map(|token| token.instance_url.clone());
        let token = starting.map(|starting| {
            let left = starting
                .expires_at
                .map(|at| at.duration_since(SystemTime::now()).unwrap_or_default());
            Arc::new(Token {
                access_token: starting.access_token,
                instance_url: starting.instance_url,
                refresh_at: left.map(refresh_at),
                generation: 0,
            })
        });
        Ok(Self {
            auth: connection.auth.clone(),
            signer,
            login_url: connection.login_url.clone(),
            configured_instance: connection.instance_url.clone(),
            session_lifetime: connection.session_lifetime,
            introspect: connection.introspect,
            listener,
            state: Mutex::new(State {
                token,
                refresh_token,
                instance_url,
                fetched: 0,
                refusal: None,
            }),
            refreshes: AtomicU64::new(0),
        })
    }

    /// The cached token, fetched first if there is none or it is about to
    /// expire.
    pub(crate) async fn token(&self, http: &reqwest::Client) -> Result<Arc<Token>> {
        let mut state = self.state.lock().await;
        if let Some(token) = &state.token {
            let expiring = token.refresh_at.is_some_and(|at| Instant::now() >= at);
            if !expiring || !self.can_refresh() {
                return Ok(token.clone());
            }
            self.refreshes.fetch_add(1, Ordering::Relaxed);
        }
        self.fetch(http, &mut state).await
    }

    /// A new token in place of `stale`, which Salesforce refused. When
    /// another caller replaced it already, that token is returned and no
    /// request is sent.
    pub(crate) async fn refresh(
        &self,
        http: &reqwest::Client,
        stale: &Token,
    ) -> Result<Arc<Token>> {
        let mut state = self.state.lock().await;
        if let Some(token) = &state.token
            && token.generation != stale.generation
        {
            return Ok(token.clone());
        }
        if let Some((generation, error)) = &state.refusal
            && *generation == stale.generation
        {
            return Err(error.clone());
        }
        state.token = None;
        if !self.can_refresh() {
            return Err(SalesforceError::new(
                401,
                "INVALID_SESSION_ID",
                "Salesforce refused the configured access token, and auth = access_token cannot refresh it: configure refresh_token, client_credentials or jwt_bearer",
            ));
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        let fetched = self.fetch(http, &mut state).await;
        if let Err(error) = &fetched {
            state.refusal = Some((stale.generation, error.clone()));
        }
        fetched
    }

    /// Fetches a new token now, whatever the cached one; callers at the
    /// same moment share the one fetch.
    pub(crate) async fn refresh_now(&self, http: &reqwest::Client) -> Result<Arc<Token>> {
        let before = self.state.lock().await.fetched;
        let mut state = self.state.lock().await;
        if state.fetched != before
            && let Some(token) = &state.token
        {
            return Ok(token.clone());
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        self.fetch(http, &mut state).await
    }

    /// How many tokens were fetched to replace a refused or expiring one.
    pub(crate) fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    fn can_refresh(&self) -> bool {
        !matches!(self.auth, Auth::AccessToken(_))
    }

    async fn fetch(&self, http: &reqwest::Client, state: &mut State) -> Result<Arc<Token>> {
        let response = match &self.auth {
            Auth::AccessToken(token) => TokenResponse {
                access_token: token.expose().to_owned(),
                instance_url: None,
                refresh_token: None,
            },
            _ => match self.request(http, state).await {
                Ok(response) => response,
                Err(error) => {
                    if let Some(listener) = &self.listener {
                        listener.refused(&error).await;
                    }
                    return Err(error);
                }
            },
        };
        let rotated = response.refresh_token.map(Secret::new);
        if let Some(rotated) = &rotated {
            state.refresh_token = Some(rotated.clone());
        }
        // The token response names the instance; a refresh answer without
        // one keeps the instance already known rather than dropping it.
        let instance_url = response
            .instance_url
            .map(|url| url.trim_end_matches('/').to_owned())
            .or_else(|| state.instance_url.clone())
            .or_else(|| self.configured_instance.clone())
            .ok_or_else(|| {
                SalesforceError::new(
                    0,
                    "GUST_NO_INSTANCE_URL",
                    "the token response named no instance_url and none is configured",
                )
            })?;
        let access_token = Secret::new(response.access_token);
        let lifetime = self.lifetime(http, &instance_url, &access_token).await;
        if let Some(listener) = &self.listener {
            let grant = TokenGrant {
                access_token: access_token.clone(),
                refresh_token: rotated,
                instance_url: instance_url.clone(),
                expires_at: lifetime.map(|lifetime| SystemTime::now() + lifetime),
            };
            listener.fetched(&grant).await?;
        }
        state.fetched += 1;
        state.refusal = None;
        state.instance_url = Some(instance_url.clone());
        let token = Arc::new(Token {
            access_token,
            instance_url,
            refresh_at: lifetime.map(refresh_at),
            generation: state.fetched,
        });
        state.token = Some(token.clone());
        Ok(token)
    }

    /// How long a token just fetched lives: introspected when the
    /// connection asks for it and the app allows it, else the configured
    /// session lifetime, else unknown.
    async fn lifetime(
        &self,
        http: &reqwest::Client,
        instance_url: &str,
        access_token: &Secret,
    ) -> Option<Duration> {
        if self.introspect
            && let Some(expires) = self
                .introspected_expiry(http, instance_url, access_token)
                .await
        {
            return Some(expires);
        }
        self.session_lifetime
    }

    async fn introspected_expiry(
        &self,
        http: &reqwest::Client,
        instance_url: &str,
        access_token: &Secret,
    ) -> Option<Duration> {
        let (client_id, client_secret) = match &self.auth {
            Auth::RefreshToken {
                client_id,
                client_secret: Some(secret),
                ..
            }
            | Auth::ClientCredentials {
                client_id,
                client_secret: secret,
            } => (client_id, secret),
            _ => return None,
        };
        let app = (client_id.as_str(), client_secret);
        token_lifetime(http, instance_url, app, access_token).await
    }

    async fn request(&self, http: &reqwest::Client, state: &State) -> Result<TokenResponse> {
        let mut form: Vec<(&str, String)> = Vec::new();
        match &self.auth {
            Auth::RefreshToken {
                client_id,
                client_secret,
                ..
            } => {
                let refresh_token = state
                    .refresh_token
                    .as_ref()
                    .expect("the refresh token flow has a refresh token");
                form.push(("grant_type", "refresh_token".into()));
                form.push(("client_id", client_id.clone()));
                if let Some(secret) = client_secret {
                    form.push(("client_secret", secret.expose().to_owned()));
                }
                form.push(("refresh_token", refresh_token.expose().to_owned()));
            }
            Auth::ClientCredentials {
                client_id,
                client_secret,
            } => {
                form.push(("grant_type", "client_credentials".into()));
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", client_secret.expose().to_owned()));
            }
            Auth::JwtBearer {
                client_id,
                username,
                ..
            } => {
                let signer = self
                    .signer
                    .as_ref()
                    .expect("the JWT bearer flow has a signer");
                form.push((
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                ));
                form.push((
                    "assertion",
                    signer.assertion(client_id, username, &self.login_url),
                ));
            }
            Auth::AccessToken(_) => unreachable!("a fixed token is never requested"),
        }
        let url = format!("{}/services/oauth2/token", self.login_url);
        let (status, body) = exchange(http.post(&url).form(&form)).await?;
        if !status.is_success() {
            let mut error = SalesforceError::from_response(status.as_u16(), &body);
            error.message = format!("logging in at {url} failed: {}", error.message);
            return Err(error);
        }
        serde_json::from_slice(&body).map_err(|error| {
            SalesforceError::new(
                status.as_u16(),
                "GUST_BAD_TOKEN_RESPONSE",
                format!("the token endpoint {url} answered something that is not a token: {error}"),
            )
        })
    }
}
