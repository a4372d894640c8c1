//! The HTTP side of a connection: every call goes through
//! [`Client::send`], which holds calls back when the API budget is spent,
//! authenticates, refreshes the token once on 401 and replays, and retries
//! transient failures with backoff.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::auth::{Authenticator, StartingToken, Token, TokenListener};
use super::settings::{CallRetryPolicy, Connection};
use super::usage::{ApiUsage, ApiUsageSnapshot};
use super::{Result, SalesforceError};
use crate::backoff;
use crate::jwt::KeyError;

/// A Salesforce client for one connection. Cloning is cheap: clones share
/// the token, the describe cache and the API usage.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    auth: Authenticator,
    usage: ApiUsage,
    connection: Connection,
    describes: Mutex<HashMap<String, Arc<Value>>>,
    counters: Counters,
    /// The org's id, once asked.
    organization: std::sync::OnceLock<String>,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
}

/// What a connection has done, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionStats {
    /// HTTP requests sent to the instance (token requests not included).
    pub requests: u64,
    /// Calls attempted again after a transient failure.
    pub retries: u64,
    /// Tokens fetched again after Salesforce refused one.
    pub refreshes: u64,
    /// The org's API usage, once Salesforce has reported it.
    pub api_usage: Option<ApiUsageSnapshot>,
}

/// The body of a call.
#[derive(Debug, Clone, Default)]
pub(crate) enum Body {
    /// No body.
    #[default]
    Empty,
    /// JSON.
    Json(Bytes),
    /// CSV, for Bulk API 2.0.
    Csv(Bytes),
}

impl Body {
    pub(crate) fn json(value: &Value) -> Self {
        Self::Json(Bytes::from(value.to_string()))
    }
}

/// One call: a method, a path on the instance, its query and body.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    /// A path on the instance (`/services/...`), or a full URL.
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Body,
}

impl Call {
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::Empty,
        }
    }

    pub(crate) fn query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    pub(crate) fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Whether sending the call twice does what sending it once does, so
    /// that a call whose answer was lost may be sent again.
    fn is_idempotent(&self) -> bool {
        self.method != Method::POST
    }
}

/// A successful answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as `T`, or an error saying what Salesforce answered instead.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|error| {
            SalesforceError::bad_response(
                self.status.as_u16(),
                format!("Salesforce answered JSON Gust cannot read: {error}"),
            )
        })
    }

    /// The body as JSON; `Value::Null` when empty, a string when not JSON.
    pub(crate) fn value(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.body).into_owned()))
    }

    /// A header's value, if it is text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

/// A client could not be built for a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// A JWT bearer connection's private key cannot sign.
    #[error("salesforce.private_key: {0}")]
    PrivateKey(KeyError),
}

impl Client {
    /// A client for `connection`. Fails only when the connection's key is
    /// unusable (a JWT private key that is not an RSA key).
    pub fn new(connection: Connection) -> Result<Self, ClientError> {
        Self::build(connection, None, None)
    }

    /// A client for `connection` that starts with `starting` (when given)
    /// instead of fetching a token, and tells `listener` of every token it
    /// fetches and every refusal: a stored connection's client.
    pub fn with_tokens(
        connection: Connection,
        starting: Option<StartingToken>,
        listener: Arc<dyn TokenListener>,
    ) -> Result<Self, ClientError> {
        Self::build(connection, starting, Some(listener))
    }

    fn build(
        connection: Connection,
        starting: Option<StartingToken>,
        listener: Option<Arc<dyn TokenListener>>,
    ) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("gust/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(connection.request_timeout)
            .build()
            .map_err(|error| ClientError::Http(error.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                auth: Authenticator::new(&connection, starting, listener)?,
                usage: ApiUsage::new(connection.api_limit_share),
                http,
                connection,
                describes: Mutex::new(HashMap::new()),
                counters: Counters::default(),
                organization: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The connection's settings.
    pub fn connection(&self) -> &Connection {
        &self.inner.connection
    }

    /// What the connection has done so far.
    pub fn stats(&self) -> ConnectionStats {
        let counters = &self.inner.counters;
        ConnectionStats {
            requests: counters.requests.load(Ordering::Relaxed),
            retries: counters.retries.load(Ordering::Relaxed),
            refreshes: self.inner.auth.refreshes(),
            api_usage: self.inner.usage.snapshot(),
        }
    }

    /// `/services/data/vNN.N` followed by `path`.
    pub(crate) fn data_path(&self, path: &str) -> String {
        format!(
            "/services/data/v{}{path}",
            self.inner.connection.api_version
        )
    }

    /// The instance URL, logging in first if needed.
    pub async fn instance_url(&self) -> Result<String> {
        Ok(self
            .inner
            .auth
            .token(&self.inner.http)
            .await?
            .instance_url
            .clone())
    }

    /// Fetches a new access token now (a keep-alive refresh that keeps an
    /// idle refresh token from expiring); callers at the same moment share
    /// one fetch.
    pub async fn refresh_token_now(&self) -> Result<()> {
        self.inner
            .auth
            .refresh_now(&self.inner.http)
            .await
            .map(drop)
    }

    /// The session calls are made with, and its org (asked once, from
    /// UserInfo); `renew` fetches a new token first.
    pub async fn session(&self, renew: bool) -> Result<crate::Session> {
        let token = if renew {
            self.inner.auth.refresh_now(&self.inner.http).await?
        } else {
            self.inner.auth.token(&self.inner.http).await?
        };
        let organization_id = match self.inner.organization.get() {
            Some(id) => id.clone(),
            None => {
                let id = self
                    .session_organization(token.access_token.expose())
                    .await?;
                self.inner.organization.get_or_init(|| id).clone()
            }
        };
        Ok(crate::Session {
            access_token: token.access_token.clone(),
            instance_url: token.instance_url.clone(),
            organization_id,
        })
    }

    /// The org of another session on this instance, from its OpenID
    /// Connect UserInfo (`/services/oauth2/userinfo`). The session is sent
    /// to the configured instance only, never to a URL a caller names.
    pub async fn session_organization(&self, session_id: &str) -> Result<String> {
        #[derive(serde::Deserialize)]
        struct UserInfo {
            organization_id: String,
        }
        let instance = self.instance_url().await?;
        let url = format!("{instance}/services/oauth2/userinfo");
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let (status, body) = exchange(self.inner.http.get(url).bearer_auth(session_id)).await?;
        if !status.is_success() {
            return Err(SalesforceError::from_response(status.as_u16(), &body));
        }
        let info: UserInfo = serde_json::from_slice(&body).map_err(|error| {
            SalesforceError::bad_response(
                status.as_u16(),
                format!("the UserInfo is unreadable: {error}"),
            )
        })?;
        Ok(info.organization_id)
    }

    /// The describe of `sobject`, cached per connection.
    pub(crate) fn cached_describe(&self, sobject: &str) -> Option<Arc<Value>> {
        let cache = self
            .inner
            .describes
            .lock()
            .expect("describe cache poisoned");
        cache.get(&sobject.to_ascii_lowercase()).cloned()
    }

    pub(crate) fn cache_describe(&self, sobject: &str, describe: Arc<Value>) {
        let mut cache = self
            .inner
            .describes
            .lock()
            .expect("describe cache poisoned");
        cache.insert(sobject.to_ascii_lowercase(), describe);
    }

    /// Sends `call`, retrying transient failures under the connection's
    /// policy; the answer when it succeeded (2xx), else Salesforce's error.
    pub(crate) async fn send(&self, call: &Call) -> Result<Answer> {
        let policy: CallRetryPolicy = self.inner.connection.retry;
        let mut attempt = 0;
        let mut waited = Duration::ZERO;
        let mut refreshed = false;
        loop {
            attempt += 1;
            let error = match self.attempt(call, &mut refreshed).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            // Spending more of a spent budget cannot help.
            if !error.is_retryable()
                || error.error_code == "GUST_API_BUDGET"
                || attempt >= policy.max_attempts
            {
                return Err(error);
            }
            let delay = backoff(policy.initial_backoff, policy.max_backoff, attempt);
            if waited + delay > policy.budget {
                return Err(error);
            }
            if error.error_code == "REQUEST_LIMIT_EXCEEDED" {
                self.inner.usage.pause(delay);
            }
            tracing::debug!(%error, attempt, ?delay, path = %call.path, "Retrying a Salesforce call.");
            self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            waited += delay;
        }
    }

    /// One attempt: with the cached token, and once more with a new token
    /// when Salesforce refuses the cached one.
    async fn attempt(&self, call: &Call, refreshed: &mut bool) -> Result<Answer> {
        let inner = &self.inner;
        inner.usage.wait_pause().await;
        let mut token = inner.auth.token(&inner.http).await?;
        loop {
            inner.usage.admit()?;
            let answer = self.execute(call, &token).await?;
            inner.usage.observe(&answer.headers);
            if answer.status.is_success() {
                return Ok(answer);
            }
            if answer.status == StatusCode::UNAUTHORIZED && !*refreshed {
                *refreshed = true;
                token = inner.auth.refresh(&inner.http, &token).await?;
                continue;
            }
            return Err(SalesforceError::from_response(
                answer.status.as_u16(),
                &answer.body,
            ));
        }
    }

    async fn execute(&self, call: &Call, token: &Token) -> Result<Answer> {
        let url = self.url(call, &token.instance_url)?;
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .bearer_auth(token.access_token.expose());
        request = match &call.body {
            Body::Empty => request,
            Body::Json(bytes) => request
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Body::Csv(bytes) => request.header(CONTENT_TYPE, "text/csv").body(bytes.clone()),
        };
        self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let lost = |error: reqwest::Error| {
            let mut lost = SalesforceError::transport(&error);
            if !error.is_connect() && !call.is_idempotent() {
                // The request may have been applied: sending it again could
                // write twice, so the failure is final.
                lost.error_code = "GUST_TRANSPORT_UNCERTAIN".to_owned();
                lost.message = format!(
                    "{}; the {} may have been applied, so it is not sent again",
                    lost.message, call.method
                );
            }
            lost
        };
        let response = request.send().await.map_err(lost)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(lost)?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The URL of `call` on `instance`.
    pub(crate) fn url(&self, call: &Call, instance: &str) -> Result<Url> {
        let text = if call.path.starts_with("http://") || call.path.starts_with("https://") {
            call.path.clone()
        } else {
            format!("{instance}{}", call.path)
        };
        let mut url = Url::parse(&text).map_err(|error| {
            SalesforceError::bad_request(format!("`{text}` is not a URL: {error}"))
        })?;
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        Ok(url)
    }

    /// The length of the URL `call` would be sent to, to tell whether it is
    /// too long for Salesforce before sending it.
    pub(crate) async fn url_len(&self, call: &Call) -> Result<usize> {
        let instance = self.instance_url().await?;
        Ok(self.url(call, &instance)?.as_str().len())
    }
}

/// Sends `request` once: the answer's status and body, whatever the
/// status; a lost connection is a transport error.
pub(super) async fn exchange(request: reqwest::RequestBuilder) -> Result<(StatusCode, Bytes)> {
    let response = request
        .send()
        .await
        .map_err(|error| SalesforceError::transport(&error))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|error| SalesforceError::transport(&error))?;
    Ok((status, body))
}
