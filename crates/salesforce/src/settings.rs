//! How a Salesforce connection is configured: the `[salesforce]` table of
//! `gust.toml` and the `GUST_SF_*` environment variables, resolved into a
//! [`Connection`] whose secrets have been read.
//!
//! ```toml
//! [salesforce]
//! instance_url = "https://acme.my.salesforce.com"
//! auth = "refresh_token"
//! client_id = "3MVG9..."
//! client_secret = "env:SF_CLIENT_SECRET"
//! refresh_token = "file:/run/secrets/sf-refresh-token"
//! ```
//!
//! In the file, secrets are `env:NAME` or `file:PATH`, never inline; in the
//! environment (`GUST_SF_CLIENT_SECRET`, ...) a variable holds the secret
//! itself, or `file:PATH`.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IntoDeserializer as _;

use crate::secret::{InvalidSecretRef, SecretError, SecretRef};

/// The API version used when none is configured.
pub const DEFAULT_API_VERSION: &str = "62.0";
/// Where logins go when no login URL is configured.
pub const DEFAULT_LOGIN_URL: &str = "https://login.salesforce.com";
/// The default share of the org's daily API requests Gust may spend.
pub const DEFAULT_API_LIMIT_SHARE: f64 = 0.9;
/// The default number of records above which `write-many` uses Bulk API 2.0.
pub const DEFAULT_BULK_THRESHOLD: usize = 2_000;

/// A connection's settings do not describe a connection that can work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No auth method is set.
    #[error(
        "salesforce.auth (GUST_SF_AUTH) is not set: use refresh_token, client_credentials, jwt_bearer or access_token"
    )]
    NoAuthMethod,
    /// The auth method is not one Gust knows.
    #[error(
        "`{0}` is not an auth method: use refresh_token, client_credentials, jwt_bearer or access_token"
    )]
    UnknownAuthMethod(String),
    /// A setting the auth method needs is not set.
    #[error("salesforce.{key} ({variable}) is required by auth = {method:?}")]
    Missing {
        /// The setting.
        key: &'static str,
        /// Its environment variable.
        variable: &'static str,
        /// The auth method that needs it.
        method: AuthMethod,
    },
    /// A secret setting could not be read.
    #[error("salesforce.{key}: {error}")]
    Secret {
        /// The setting.
        key: &'static str,
        /// Why.
        error: SecretError,
    },
    /// A secret given in the environment as `file:` names no file.
    #[error(transparent)]
    SecretRef(#[from] InvalidSecretRef),
    /// The API version is not `NN.0`.
    #[error("salesforce.api_version `{0}` is not a version such as {DEFAULT_API_VERSION}")]
    ApiVersion(String),
    /// The API limit share is outside (0, 1].
    #[error("salesforce.api_limit_share must be above 0 and at most 1, not {0}")]
    ApiLimitShare(f64),
    /// A URL is not http(s).
    #[error("`{0}` is not an http(s) URL")]
    NotHttpUrl(String),
    /// A variable that holds a number does not.
    #[error("{variable} is not a number: `{value}`")]
    NotANumber {
        /// The variable.
        variable: &'static str,
        /// What it holds.
        value: String,
    },
}

/// The `[salesforce]` settings, every one optional until resolved.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSettings {
    /// `https://<my-domain>.my.salesforce.com`; required for
    /// `access_token`, otherwise taken from the token response.
    pub instance_url: Option<String>,
    /// The OAuth server [default: `https://login.salesforce.com`; the
    /// instance URL for `client_credentials`].
    pub login_url: Option<String>,
    /// The REST API version, such as `62.0`.
    pub api_version: Option<String>,
    /// `refresh_token`, `client_credentials`, `jwt_bearer` or `access_token`.
    pub auth: Option<AuthMethod>,
    /// The connected app's consumer key.
    pub client_id: Option<String>,
    /// The connected app's consumer secret (a secret).
    pub client_secret: Option<SecretSetting>,
    /// A refresh token (a secret), for `refresh_token`.
    pub refresh_token: Option<SecretSetting>,
    /// The user a JWT is issued for, for `jwt_bearer`.
    pub username: Option<String>,
    /// The PEM RSA private key signing JWTs (a secret), for `jwt_bearer`.
    pub private_key: Option<SecretSetting>,
    /// An access token used as is (a secret), for `access_token`.
    pub access_token: Option<SecretSetting>,
    /// The share of the org's daily API requests Gust may spend, above
    /// which calls are held back [default: 0.9].
    pub api_limit_share: Option<f64>,
    /// The most records `write-many` sends through sObject Collections;
    /// more go through Bulk API 2.0 [default: 2000].
    pub bulk_threshold: Option<usize>,
}

/// Where a secret setting's value is: a reference (`env:NAME`, `file:PATH`;
/// the only form `gust.toml` takes) or the value itself (from the
/// environment).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "SecretRef")]
pub enum SecretSetting {
    /// Read when the connection resolves.
    Ref(SecretRef),
    /// Given as is.
    Value(Secret),
}

impl From<SecretRef> for SecretSetting {
    fn from(reference: SecretRef) -> Self {
        Self::Ref(reference)
    }
}

impl SecretSetting {
    fn read(self) -> Result<Secret, SecretError> {
        match self {
            Self::Ref(reference) => reference.read().map(Secret),
            Self::Value(secret) => Ok(secret),
        }
    }
}

/// How Gust gets an access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// OAuth refresh token flow.
    RefreshToken,
    /// OAuth client credentials flow.
    ClientCredentials,
    /// OAuth JWT bearer flow.
    JwtBearer,
    /// A fixed access token, never refreshed.
    AccessToken,
}

impl AuthMethod {
    /// The method named `text`, as `gust.toml` names it.
    fn parse(text: &str) -> Result<Self, ConfigError> {
        Self::deserialize(text.into_deserializer())
            .map_err(|_: serde::de::value::Error| ConfigError::UnknownAuthMethod(text.to_owned()))
    }
}

/// A secret value. Its `Debug` never shows it and it has no `Display`, so it
/// cannot reach a log, an error or the admin API by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Drop for Secret {
    /// Overwrites the value, so that it does not linger in freed memory.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How the connection authenticates, with its secrets read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// OAuth refresh token flow.
    RefreshToken {
        /// The consumer key.
        client_id: String,
        /// The consumer secret, when the app requires it.
        client_secret: Option<Secret>,
        /// The refresh token.
        refresh_token: Secret,
    },
    /// OAuth client credentials flow.
    ClientCredentials {
        /// The consumer key.
        client_id: String,
        /// The consumer secret.
        client_secret: Secret,
    },
    /// OAuth JWT bearer flow.
    JwtBearer {
        /// The consumer key (the JWT's issuer).
        client_id: String,
        /// The user (the JWT's subject).
        username: String,
        /// The PEM RSA private key.
        private_key: Secret,
    },
    /// A fixed access token.
    AccessToken(Secret),
}

/// A resolved connection: where Salesforce is, how to log in, and the
/// client's policies.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The instance, when configured; otherwise the token response's.
    pub instance_url: Option<String>,
    /// The OAuth server.
    pub login_url: String,
    /// The REST API version, such as `62.0`.
    pub api_version: String,
    /// How to get an access token.
    pub auth: Auth,
    /// The share of the daily API requests Gust may spend.
    pub api_limit_share: f64,
    /// The most records `write-many` sends through sObject Collections.
    pub bulk_threshold: usize,
    /// How calls are retried.
    pub retry: CallRetryPolicy,
    /// How long one HTTP request may take.
    pub request_timeout: Duration,
    /// How long an access token lives, when known: the token is refreshed
    /// ahead of it rather than on the 401 after it. Salesforce's token
    /// answers name no expiry; the org's session timeout sets it (two
    /// hours by default).
    pub session_lifetime: Option<Duration>,
    /// Ask the token's expiry from `/services/oauth2/introspect` (the app
    /// must allow introspection), falling back to `session_lifetime`.
    pub introspect: bool,
}

/// How a failed call is retried: exponential backoff with equal jitter
/// ([`backoff`](crate::backoff())), bounded by attempts and by the total time
/// spent waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallRetryPolicy {
    /// The most attempts of one call.
    pub max_attempts: u32,
    /// The first backoff.
    pub initial_backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
    /// The most time spent waiting between attempts of one call.
    pub budget: Duration,
}

impl Default for CallRetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            budget: Duration::from_secs(20),
        }
    }
}

impl Connection {
    /// A connection with the default policies.
    pub fn new(login_url: impl Into<String>, auth: Auth) -> Self {
        Self {
            instance_url: None,
            login_url: trim_url(login_url.into()),
            api_version: DEFAULT_API_VERSION.to_owned(),
            auth,
            api_limit_share: DEFAULT_API_LIMIT_SHARE,
            bulk_threshold: DEFAULT_BULK_THRESHOLD,
            retry: CallRetryPolicy::default(),
            request_timeout: Duration::from_secs(120),
            session_lifetime: None,
            introspect: false,
        }
    }

    /// A connection logging in as the connected app `client_id` with the
    /// client credentials flow, with the default policies.
    pub fn client_credentials(
        login_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let auth = Auth::ClientCredentials {
            client_id: client_id.into(),
            client_secret: Secret::new(client_secret),
        };
        Self::new(login_url, auth)
    }
}

/// The environment variable of each setting.
const ENV: [(&str, &str); 12] = [
    ("instance_url", "GUST_SF_INSTANCE_URL"),
    ("login_url", "GUST_SF_LOGIN_URL"),
    ("api_version", "GUST_SF_API_VERSION"),
    ("auth", "GUST_SF_AUTH"),
    ("client_id", "GUST_SF_CLIENT_ID"),
    ("client_secret", "GUST_SF_CLIENT_SECRET"),
    ("refresh_token", "GUST_SF_REFRESH_TOKEN"),
    ("username", "GUST_SF_USERNAME"),
    ("private_key", "GUST_SF_PRIVATE_KEY"),
    ("access_token", "GUST_SF_ACCESS_TOKEN"),
    ("api_limit_share", "GUST_SF_API_LIMIT_SHARE"),
    ("bulk_threshold", "GUST_SF_BULK_THRESHOLD"),
];

fn env_name(key: &str) -> &'static str {
    ENV.iter()
        .find(|(name, _)| *name == key)
        .map(|(_, var)| *var)
        .expect("every setting has a variable")
}

impl ConnectionSettings {
    /// The settings given by `GUST_SF_*` variables of `lookup` (the process
    /// environment in [`ConnectionSettings::from_env`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| lookup(env_name(key)).filter(|value| !value.is_empty());
        let secret = |key: &str| get(key).map(env_secret);
        Ok(Self {
            instance_url: get("instance_url"),
            login_url: get("login_url"),
            api_version: get("api_version"),
            auth: get("auth")
                .map(|text| AuthMethod::parse(&text))
                .transpose()?,
            client_id: get("client_id"),
            client_secret: secret("client_secret").transpose()?,
            refresh_token: secret("refresh_token").transpose()?,
            username: get("username"),
            private_key: secret("private_key").transpose()?,
            access_token: secret("access_token").transpose()?,
            api_limit_share: number("api_limit_share", get("api_limit_share"))?,
            bulk_threshold: number("bulk_threshold", get("bulk_threshold"))?,
        })
    }

    /// The settings of the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Whether nothing is set: no connection is configured.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Each setting from `self`, else from `lower`.
    pub fn or(self, lower: Self) -> Self {
        Self {
            instance_url: self.instance_url.or(lower.instance_url),
            login_url: self.login_url.or(lower.login_url),
            api_version: self.api_version.or(lower.api_version),
            auth: self.auth.or(lower.auth),
            client_id: self.client_id.or(lower.client_id),
            client_secret: self.client_secret.or(lower.client_secret),
            refresh_token: self.refresh_token.or(lower.refresh_token),
            username: self.username.or(lower.username),
            private_key: self.private_key.or(lower.private_key),
            access_token: self.access_token.or(lower.access_token),
            api_limit_share: self.api_limit_share.or(lower.api_limit_share),
            bulk_threshold: self.bulk_threshold.or(lower.bulk_threshold),
        }
    }

    /// The connection these settings describe, with its secrets read.
    /// Every problem is an error naming the setting and its variable.
    pub fn resolve(self) -> Result<Connection, ConfigError> {
        let Some(method) = self.auth else {
            return Err(ConfigError::NoAuthMethod);
        };
        let required =
            |key: &'static str, value: Option<String>| value.ok_or_else(|| missing(key, method));
        let secret = |key: &'static str,
                      value: Option<SecretSetting>|
         -> Result<Option<Secret>, ConfigError> {
            value
                .map(|setting| {
                    setting
                        .read()
                        .map_err(|error| ConfigError::Secret { key, error })
                })
                .transpose()
        };
        let auth = match method {
            AuthMethod::RefreshToken => Auth::RefreshToken {
                client_id: required("client_id", self.client_id)?,
                client_secret: secret("client_secret", self.client_secret)?,
                refresh_token: secret("refresh_token", self.refresh_token)?
                    .ok_or_else(|| missing("refresh_token", method))?,
            },
            AuthMethod::ClientCredentials => Auth::ClientCredentials {
                client_id: required("client_id", self.client_id)?,
                client_secret: secret("client_secret", self.client_secret)?
                    .ok_or_else(|| missing("client_secret", method))?,
            },
            AuthMethod::JwtBearer => Auth::JwtBearer {
                client_id: required("client_id", self.client_id)?,
                username: required("username", self.username)?,
                private_key: secret("private_key", self.private_key)?
                    .ok_or_else(|| missing("private_key", method))?,
            },
            AuthMethod::AccessToken => {
                if self.instance_url.is_none() {
                    return Err(missing("instance_url", method));
                }
                Auth::AccessToken(
                    secret("access_token", self.access_token)?
                        .ok_or_else(|| missing("access_token", method))?,
                )
            }
        };
        if let Some(version) = &self.api_version
            && !is_api_version(version)
        {
            return Err(ConfigError::ApiVersion(version.clone()));
        }
        let share = self.api_limit_share.unwrap_or(DEFAULT_API_LIMIT_SHARE);
        if !(share > 0.0 && share <= 1.0) {
            return Err(ConfigError::ApiLimitShare(share));
        }
        let instance_url = self.instance_url.map(trim_url);
        for url in instance_url.iter().chain(&self.login_url) {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::NotHttpUrl(url.clone()));
            }
        }
        // The client credentials flow runs on the org's My Domain.
        let login_url = match (&self.login_url, method, &instance_url) {
            (Some(url), _, _) => url.clone(),
            (None, AuthMethod::ClientCredentials, Some(instance)) => instance.clone(),
            (None, _, _) => DEFAULT_LOGIN_URL.to_owned(),
        };
        let mut connection = Connection::new(login_url, auth);
        connection.instance_url = instance_url;
        connection.api_version = self
            .api_version
            .unwrap_or_else(|| DEFAULT_API_VERSION.to_owned());
        connection.api_limit_share = share;
        connection.bulk_threshold = self.bulk_threshold.unwrap_or(DEFAULT_BULK_THRESHOLD).max(1);
        Ok(connection)
    }
}

fn missing(key: &'static str, method: AuthMethod) -> ConfigError {
    ConfigError::Missing {
        key,
        variable: env_name(key),
        method,
    }
}

/// The number a variable holds, if it is set.
fn number<T: std::str::FromStr>(
    key: &str,
    value: Option<String>,
) -> Result<Option<T>, ConfigError> {
    value
        .map(|value| {
            value.parse().map_err(|_| ConfigError::NotANumber {
                variable: env_name(key),
                value,
            })
        })
        .transpose()
}

/// A secret given in the environment: the value itself, or `file:PATH`.
fn env_secret(value: String) -> Result<SecretSetting, ConfigError> {
    if value.starts_with("file:") {
        Ok(SecretSetting::Ref(SecretRef::try_from(value)?))
    } else {
        Ok(SecretSetting::Value(Secret(value)))
    }
}

fn is_api_version(text: &str) -> bool {
    text.split_once('.').is_some_and(|(major, minor)| {
        !major.is_empty()
            && major.chars().all(|c| c.is_ascii_digit())
            && minor.len() == 1
            && minor.chars().all(|c| c.is_ascii_digit())
    })
}

fn trim_url(url: String) -> String {
    url.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> ConnectionSettings {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ConnectionSettings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    #[test]
    fn an_unset_environment_configures_nothing() {
        assert!(settings(&[]).is_empty());
    }

    #[test]
    fn the_file_form_reads_secrets_from_files_and_defaults_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("refresh");
        std::fs::write(&token, "5Aep861-token\n").unwrap();
        let toml = format!(
            "auth = \"refresh_token\"\nclient_id = \"app\"\nrefresh_token = \"file:{}\"\n",
            token.display()
        );
        let connection = toml::from_str::<ConnectionSettings>(&toml)
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(
            connection.auth,
            Auth::RefreshToken {
                client_id: "app".into(),
                client_secret: None,
                refresh_token: Secret::new("5Aep861-token"),
            }
        );
        assert_eq!(connection.login_url, DEFAULT_LOGIN_URL);
        assert_eq!(connection.api_version, DEFAULT_API_VERSION);
        assert_eq!(connection.bulk_threshold, DEFAULT_BULK_THRESHOLD);
        assert!(!format!("{connection:?}").contains("5Aep861"));
    }

    #[test]
    fn secrets_are_never_inline_in_the_file() {
        let error = toml::from_str::<ConnectionSettings>("client_secret = \"hunter2\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("env:NAME"), "{error}");
        assert!(
            toml::from_str::<ConnectionSettings>("color = \"red\"")
                .unwrap_err()
                .to_string()
                .contains("color")
        );
    }

    #[test]
    fn missing_settings_are_named_with_their_variables() {
        let error = settings(&[("GUST_SF_AUTH", "client_credentials")])
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("salesforce.client_id (GUST_SF_CLIENT_ID)"),
            "{error}"
        );
        let error = settings(&[("GUST_SF_AUTH", "access_token")])
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(error.contains("instance_url"), "{error}");
        let error = ConnectionSettings::from_lookup(|name| {
            (name == "GUST_SF_AUTH").then(|| "password".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("`password` is not an auth method"),
            "{error}"
        );
        let error = settings(&[
            ("GUST_SF_AUTH", "client_credentials"),
            ("GUST_SF_CLIENT_ID", "app"),
            ("GUST_SF_CLIENT_SECRET", "file:/nonexistent/secret"),
        ])
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("salesforce.client_secret: cannot read"),
            "{error}"
        );
    }

    #[test]
    fn client_credentials_log_in_on_the_instance() {
        let connection = ConnectionSettings {
            auth: Some(AuthMethod::ClientCredentials),
            instance_url: Some("https://acme.my.salesforce.com/".into()),
            client_id: Some("app".into()),
            client_secret: Some(SecretSetting::Value(Secret::new("s"))),
            api_version: Some("60.0".into()),
            ..ConnectionSettings::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(connection.login_url, "https://acme.my.salesforce.com");
        assert_eq!(connection.api_version, "60.0");
        let bad_version = ConnectionSettings {
            api_version: Some("v60".into()),
            ..ConnectionSettings::default()
        };
        let error = bad_version
            .or(settings(&[
                ("GUST_SF_AUTH", "client_credentials"),
                ("GUST_SF_CLIENT_ID", "app"),
                ("GUST_SF_CLIENT_SECRET", "s3cret"),
            ]))
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(error.contains("api_version `v60`"), "{error}");
    }
}
