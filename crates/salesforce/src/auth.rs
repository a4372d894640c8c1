//! Access tokens: fetched from the OAuth token endpoint, cached, and
//! refreshed once however many calls find the token expired at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Counts the tokens fetched, so that a refresh can tell whether
    /// another caller replaced this one already.
    generation: u64,
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

/// The cached token of one connection.
#[derive(Debug)]
pub(crate) struct Authenticator {
    auth: Auth,
    /// Signs the JWT bearer flow's assertions.
    signer: Option<JwtSigner>,
    login_url: String,
    configured_instance: Option<String>,
    /// The current token and, for the refresh token flow, the refresh token
    /// (Salesforce may rotate it). Held across a fetch, so concurrent
    /// callers wait for one fetch instead of starting their own.
    state: Mutex<State>,
    /// Tokens fetched to replace a refused one.
    refreshes: AtomicU64,
}

#[derive(Debug)]
struct State {
    token: Option<Arc<Token>>,
    refresh_token: Option<Secret>,
    /// The instance the last token response named.
    instance_url: Option<String>,
    fetched: u64,
}

impl Authenticator {
    pub(crate) fn new(connection: &Connection) -> Result<Self, ClientError> {
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
        Ok(Self {
            auth: connection.auth.clone(),
            signer,
            login_url: connection.login_url.clone(),
            configured_instance: connection.instance_url.clone(),
            state: Mutex::new(State {
                token: None,
                refresh_token,
                instance_url: None,
                fetched: 0,
            }),
            refreshes: AtomicU64::new(0),
        })
    }

    /// The cached token, fetched first if there is none.
    pub(crate) async fn token(&self, http: &reqwest::Client) -> Result<Arc<Token>> {
        let mut state = self.state.lock().await;
        if let Some(token) = &state.token {
            return Ok(token.clone());
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
        state.token = None;
        if let Auth::AccessToken(_) = self.auth {
            return Err(SalesforceError::new(
                401,
                "INVALID_SESSION_ID",
                "Salesforce refused the configured access token, and auth = access_token cannot refresh it: configure refresh_token, client_credentials or jwt_bearer",
            ));
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        self.fetch(http, &mut state).await
    }

    /// How many tokens were fetched to replace a refused one.
    pub(crate) fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    async fn fetch(&self, http: &reqwest::Client, state: &mut State) -> Result<Arc<Token>> {
        let response = match &self.auth {
            Auth::AccessToken(token) => TokenResponse {
                access_token: token.expose().to_owned(),
                instance_url: None,
                refresh_token: None,
            },
            _ => self.request(http, state).await?,
        };
        if let Some(rotated) = response.refresh_token {
            state.refresh_token = Some(Secret::new(rotated));
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
        state.fetched += 1;
        state.instance_url = Some(instance_url.clone());
        let token = Arc::new(Token {
            access_token: Secret::new(response.access_token),
            instance_url,
            generation: state.fetched,
        });
        state.token = Some(token.clone());
        Ok(token)
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
