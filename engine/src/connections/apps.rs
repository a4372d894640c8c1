//! OAuth apps: those of the configuration, and those created through the
//! API, whose secrets are sealed.

use super::view::{AppView, NewOAuthApp};
use super::{ConnectError, Connections, DEFAULT_SCOPES, OAuthApp, PRODUCTION_LOGIN_HOST};
use crate::model::{Sealed, StoredOAuthApp};
use crate::salesforce::Secret;

impl Connections {
    /// Every OAuth app: the configured ones, then those created through
    /// the API (a stored app with a configured one's name is shadowed).
    pub async fn apps(&self) -> Result<Vec<AppView>, ConnectError> {
        let configured = &self.shared.settings.apps;
        let mut views: Vec<AppView> = configured.iter().map(AppView::from).collect();
        for stored in self.shared.store.oauth_apps().await? {
            if !configured.iter().any(|app| app.name == stored.name) {
                views.push(AppView::from(&stored));
            }
        }
        Ok(views)
    }

    /// The app `name`, its secret opened (only this app's).
    pub(super) async fn app(&self, name: &str) -> Result<OAuthApp, ConnectError> {
        if let Some(app) = self
            .shared
            .settings
            .apps
            .iter()
            .find(|app| app.name == name)
        {
            return Ok(app.clone());
        }
        let stored = self
            .shared
            .store
            .oauth_apps()
            .await?
            .into_iter()
            .find(|app| app.name == name)
            .ok_or_else(|| ConnectError::UnknownApp(name.to_owned()))?;
        let secret = self
            .shared
            .keys
            .open(&app_owner(&stored.name), &stored.client_secret.0)
            .map_err(|error| ConnectError::Secrets {
                what: format!("the client secret of OAuth app {}", stored.name),
                error,
            })?;
        let secret = String::from_utf8(secret.to_vec())
            .map_err(|_| ConnectError::Invalid("a stored client secret is not text".into()))?;
        Ok(OAuthApp {
            name: stored.name,
            client_id: stored.client_id,
            client_secret: Secret::new(secret),
            scopes: stored.scopes,
            login_host: stored.login_host,
            tenant: stored.tenant,
            introspect: true,
        })
    }

    /// Creates (or replaces) an OAuth app; its secret is sealed. An app of
    /// the configuration cannot be replaced.
    pub async fn create_app(&self, app: NewOAuthApp) -> Result<AppView, ConnectError> {
        let name = app.name.trim();
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(ConnectError::Invalid(
                "an OAuth app's name is 1 to 64 letters, digits, `-` or `_`".into(),
            ));
        }
        if self
            .shared
            .settings
            .apps
            .iter()
            .any(|known| known.name == name)
        {
            return Err(ConnectError::Invalid(format!(
                "the OAuth app `{name}` is configured in gust.toml; change it there"
            )));
        }
        if app.client_id.trim().is_empty() || app.client_secret.is_empty() {
            return Err(ConnectError::Invalid(
                "client_id and client_secret are required".into(),
            ));
        }
        let login_host = self
            .shared
            .hosts
            .check(app.login_host.as_deref().unwrap_or(PRODUCTION_LOGIN_HOST))?;
        let stored = StoredOAuthApp {
            name: name.to_owned(),
            client_id: app.client_id.trim().to_owned(),
            client_secret: Sealed(
                self.shared
                    .keys
                    .seal(&app_owner(name), app.client_secret.as_bytes()),
            ),
            scopes: app
                .scopes
                .unwrap_or_else(|| DEFAULT_SCOPES.map(str::to_owned).to_vec()),
            login_host,
            tenant: app.tenant,
        };
        self.shared.store.put_oauth_app(&stored).await?;
        Ok(AppView::from(&stored))
    }

    /// Deletes an OAuth app created through the API; whether there was one.
    pub async fn delete_app(&self, name: &str) -> Result<bool, ConnectError> {
        Ok(self.shared.store.delete_oauth_app(name).await?)
    }
}

/// The owner an app's sealed secret is bound to.
pub(super) fn app_owner(name: &str) -> String {
    format!("app:{name}")
}
