//! The connection settings of `gust.toml`: `[connect]` and
//! `[oauth_apps.<name>]`, with their flags and variables, made into the
//! engine's [`ConnectSettings`]. Secrets are references (`env:NAME`,
//! `file:PATH`), never values in the file.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use crate::connections::{ConnectSettings, DEFAULT_SCOPES, OAuthApp, PRODUCTION_LOGIN_HOST};
use crate::salesforce::{Secret, SecretRef};

/// The `[connect]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectTable {
    /// Where a connect session may send the browser at the end (URL
    /// prefixes); `GUST_CONNECT_REDIRECT_ALLOW` (comma-separated) adds to it.
    #[serde(default)]
    pub redirect_allow: Vec<String>,
    /// Origins taken as Salesforce hosts besides Salesforce's domains.
    #[serde(default)]
    pub trusted_hosts: Vec<String>,
    /// How long a connect link works [default: 30m].
    #[serde(default, with = "humantime_serde")]
    pub session_ttl: Option<Duration>,
    /// How long an access token lives when introspection does not say
    /// [default: 2h].
    #[serde(default, with = "humantime_serde")]
    pub session_lifetime: Option<Duration>,
    /// How long a connection may go without a refresh [default: 24h].
    #[serde(default, with = "humantime_serde")]
    pub keep_alive: Option<Duration>,
    /// Where connection events are posted.
    pub events_url: Option<String>,
    /// The key events are signed with (`env:NAME` or `file:PATH`).
    pub events_secret: Option<SecretRef>,
    /// The share of each org's daily API requests a connection may spend
    /// [default: 0.9].
    pub api_limit_share: Option<f64>,
}

/// An `[oauth_apps.<name>]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthAppTable {
    /// The consumer key.
    pub client_id: String,
    /// The consumer secret (`env:NAME` or `file:PATH`).
    pub client_secret: SecretRef,
    /// The scopes [default: api refresh_token].
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// The default login host [default: Salesforce's production login host].
    pub login_host: Option<String>,
    /// The only tenant that may use it.
    pub tenant: Option<String>,
    /// Ask Salesforce when tokens expire [default: true].
    pub introspect: Option<bool>,
}

/// The engine's connect settings from the tables, for a server reached at
/// `public_url`.
pub(super) fn connect_settings(
    public_url: &str,
    table: Option<&ConnectTable>,
    apps: &BTreeMap<String, OAuthAppTable>,
) -> anyhow::Result<ConnectSettings> {
    let mut settings = ConnectSettings::new(public_url);
    if let Some(table) = table {
        settings.redirect_allow.clone_from(&table.redirect_allow);
        settings.trusted_hosts.clone_from(&table.trusted_hosts);
        if let Some(ttl) = table.session_ttl {
            settings.session_ttl = ttl;
        }
        if let Some(lifetime) = table.session_lifetime {
            settings.session_lifetime = lifetime;
        }
        if let Some(keep_alive) = table.keep_alive {
            settings.keep_alive = keep_alive;
        }
        settings.events_url.clone_from(&table.events_url);
        if let Some(share) = table.api_limit_share {
            if !(share > 0.0 && share <= 1.0) {
                anyhow::bail!(
                    "connect.api_limit_share is a share above 0 and at most 1, not {share}"
                );
            }
            settings.api_limit_share = share;
        }
        settings.events_secret = table
            .events_secret
            .as_ref()
            .map(|reference| reference.read().map(Secret::new))
            .transpose()
            .context("connect.events_secret")?;
    }
    if let Ok(extra) = std::env::var("GUST_CONNECT_REDIRECT_ALLOW") {
        settings.redirect_allow.extend(
            extra
                .split(',')
                .map(str::trim)
                .filter(|entry| !entry.is_empty())
                .map(str::to_owned),
        );
    }
    if let Ok(url) = std::env::var("GUST_CONNECT_EVENTS_URL") {
        settings.events_url = Some(url);
    }
    if let Ok(secret) = std::env::var("GUST_CONNECT_EVENTS_SECRET") {
        settings.events_secret = Some(Secret::new(secret));
    }
    for (name, table) in apps {
        let secret = table
            .client_secret
            .read()
            .with_context(|| format!("oauth_apps.{name}.client_secret"))?;
        settings.apps.push(OAuthApp {
            name: name.clone(),
            client_id: table.client_id.clone(),
            client_secret: Secret::new(secret),
            scopes: table
                .scopes
                .clone()
                .unwrap_or_else(|| DEFAULT_SCOPES.map(str::to_owned).to_vec()),
            login_host: table
                .login_host
                .clone()
                .unwrap_or_else(|| PRODUCTION_LOGIN_HOST.to_owned()),
            tenant: table.tenant.clone(),
            introspect: table.introspect.unwrap_or(true),
        });
    }
    Ok(settings)
}

/// The app customers connect through when none is configured: the local
/// sf-emulator's, which it trusts.
pub(super) fn emulator_app(settings: &mut ConnectSettings, emulator_urls: &[String]) {
    let mut app = OAuthApp::new(
        "default",
        sf_emulator::DEFAULT_CLIENT_ID,
        Secret::new(sf_emulator::DEFAULT_CLIENT_SECRET),
    );
    app.login_host.clone_from(&emulator_urls[0]);
    settings.apps.push(app);
    settings.trusted_hosts.extend(emulator_urls.iter().cloned());
}
