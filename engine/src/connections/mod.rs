//! Connections: each customer of the embedding service connects their own
//! Salesforce org through the OAuth web-server flow with PKCE; Gust keeps
//! the tokens sealed in the store and the connection healthy.
//!
//! - [`Connections::create_session`] makes a short-lived, single-use connect
//!   URL for a tenant; the browser opening it ([`Connections::open_session`])
//!   is sent to Salesforce's authorize page with `state` and an S256
//!   `code_challenge`; [`Connections::callback`] exchanges the code, checks
//!   the answer's `signature` and hosts, reads the org and user from the
//!   identity URL, stores the connection and sends the browser back.
//! - [`Connections::client`] is a connection's Salesforce client: its
//!   tokens refreshed once however many calls need it, written back with a
//!   version check, refusals classified (see `keeper`).
//! - A keep-alive refreshes idle connections; events (`connection.created`,
//!   `.refreshed`, `.needs_reauth`, `.deleted`) go to the embedding
//!   service's webhook, signed (see `events`).

mod callback;
mod client;
mod error;
pub mod events;
mod hosts;
mod keeper;
mod session;
mod settings;
mod tokens;
mod view;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use callback::CallbackOutcome;
pub use client::ConnectionClient;
pub use error::ConnectError;
pub use hosts::{HostPolicy, HostRefusal};
pub use keeper::{DEGRADED, NEEDS_REAUTH};
pub use session::{ConnectSessionRequest, CreatedSession};
pub use settings::{
    CALLBACK_PATH, ConnectSettings, DEFAULT_SCOPES, OAuthApp, PRODUCTION_LOGIN_HOST, START_PATH,
};
pub use view::{AppView, CheckResult, ConnectionView, Deleted, NewOAuthApp, RotationReport};

use self::keeper::Keeper;
use self::tokens::Tokens;
use crate::model::{
    ApiUsage, ConnectionEvent, ConnectionEventKind, ConnectionId, ConnectionRecord,
    ConnectionStatus, StoredOAuthApp, now,
};
use crate::salesforce::{
    ApiUsageSnapshot, Auth, Client, Connection, DEFAULT_API_VERSION, SalesforceService, Secret,
    StartingToken,
};
use crate::secrets::KeyRing;
use crate::store::{ConnectionStore, Written};

/// How often a connection's last use is written, at most.
const USE_WRITE_EVERY: Duration = Duration::from_secs(60);

/// What the parts of the connections share.
pub(crate) struct Shared {
    store: Arc<dyn ConnectionStore>,
    keys: KeyRing,
    settings: ConnectSettings,
    hosts: HostPolicy,
    http: reqwest::Client,
    clients: Mutex<HashMap<ConnectionId, ConnectionClient>>,
    /// When each connection's use was last written.
    uses: Mutex<HashMap<ConnectionId, Instant>>,
    /// The connection `gust.toml` configures (or the emulator's).
    default: Option<Arc<dyn SalesforceService>>,
    wake: Arc<Notify>,
    metrics: Counters,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("public_url", &self.settings.public_url)
            .finish_non_exhaustive()
    }
}

/// Totals for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    refreshes: AtomicU64,
}

impl Counters {
    pub(crate) fn refreshed(&self) {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
    }
}

/// The connections of an engine. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Connections {
    shared: Arc<Shared>,
}

impl Connections {
    /// Opens the connections kept in `store`, with secrets under `keys`;
    /// `default` is the configured connection, served as `default`. Fails
    /// when a stored secret does not open (a key missing from the ring is
    /// named).
    pub fn open(
        store: Arc<dyn ConnectionStore>,
        keys: KeyRing,
        settings: ConnectSettings,
        default: Option<Arc<dyn SalesforceService>>,
    ) -> Result<Self, ConnectError> {
        verify_secrets(store.as_ref(), &keys)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("gust/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| ConnectError::Client(error.to_string()))?;
        Ok(Self {
            shared: Arc::new(Shared {
                hosts: HostPolicy::new(&settings.trusted_hosts),
                store,
                keys,
                settings,
                http,
                clients: Mutex::default(),
                uses: Mutex::default(),
                default,
                wake: Arc::default(),
                metrics: Counters::default(),
            }),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &ConnectSettings {
        &self.shared.settings
    }

    /// Runs the keep-alive and the event delivery until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let events = events::deliver(self.shared.clone(), self.shared.wake.clone(), stop.clone());
        let keep_alive = self.keep_alive(stop);
        tokio::join!(events, keep_alive);
    }

    /// Refreshes connections that have not been refreshed for the
    /// keep-alive period, checking every twenty-fourth of it (at most
    /// hourly).
    async fn keep_alive(&self, stop: CancellationToken) {
        let period = self.shared.settings.keep_alive;
        let tick = (period / 24).clamp(Duration::from_millis(100), Duration::from_secs(3600));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(tick) => {}
            }
            if let Err(error) = self.refresh_idle(period).await {
                tracing::error!(%error, "The connection keep-alive failed.");
            }
        }
    }

    /// Refreshes every active or degraded connection not refreshed for
    /// `period`; how many were refreshed.
    pub async fn refresh_idle(&self, period: Duration) -> Result<usize, ConnectError> {
        let mut refreshed = 0;
        for record in self.shared.store.connections()? {
            let due = record.last_refresh.unwrap_or(record.connected_at)
                + chrono::Duration::from_std(period).unwrap_or(chrono::Duration::MAX);
            let live = matches!(
                record.status,
                ConnectionStatus::Active | ConnectionStatus::Degraded
            );
            if !live || due > chrono::Utc::now() {
                continue;
            }
            let client = self.stored_client(&record.id)?;
            match client.refresh_now().await {
                Ok(()) => refreshed += 1,
                Err(error) => {
                    tracing::warn!(connection = %record.id, %error, "A keep-alive refresh failed.");
                }
            }
        }
        Ok(refreshed)
    }

    /// The Salesforce client of connection `id` (`default` for the
    /// configured one).
    pub fn client(&self, id: &str) -> Result<Arc<dyn SalesforceService>, ConnectError> {
        if id == ConnectionId::DEFAULT {
            return self
                .shared
                .default
                .clone()
                .ok_or_else(|| ConnectError::UnknownConnection(id.to_owned()));
        }
        let id = ConnectionId::parse(id)
            .ok_or_else(|| ConnectError::UnknownConnection(id.to_owned()))?;
        Ok(Arc::new(self.stored_client(&id)?))
    }

    fn stored_client(&self, id: &ConnectionId) -> Result<ConnectionClient, ConnectError> {
        if let Some(client) = self.shared.clients().get(id) {
            return Ok(client.clone());
        }
        let record = self
            .shared
            .store
            .connection(id)?
            .ok_or_else(|| ConnectError::UnknownConnection(id.to_string()))?;
        let client = self.build_client(&record)?;
        Ok(self
            .shared
            .clients()
            .entry(id.clone())
            .or_insert(client)
            .clone())
    }

    fn build_client(&self, record: &ConnectionRecord) -> Result<ConnectionClient, ConnectError> {
        let shared = &self.shared;
        let app = self.app(&record.app)?;
        let tokens = Tokens::open(&shared.keys, &record.id, &record.tokens).map_err(|error| {
            ConnectError::Secrets {
                what: format!("the tokens of connection {}", record.id),
                error,
            }
        })?;
        let auth = Auth::RefreshToken {
            client_id: app.client_id.clone(),
            client_secret: Some(app.client_secret.clone()),
            refresh_token: Secret::new(tokens.refresh_token.clone()),
        };
        let mut connection = Connection::new(record.login_host.clone(), auth);
        connection.instance_url = Some(record.instance_url.clone());
        connection.session_lifetime = Some(shared.settings.session_lifetime);
        connection.introspect = app.introspect;
        connection.api_limit_share = shared.settings.api_limit_share;
        let starting = StartingToken {
            access_token: Secret::new(tokens.access_token.clone()),
            instance_url: record.instance_url.clone(),
            expires_at: tokens.expires_at.map(Into::into),
        };
        let keeper = Arc::new(Keeper::new(shared.clone(), record));
        let client = Client::with_tokens(connection, Some(starting), keeper.clone())
            .map_err(|error| ConnectError::Client(error.to_string()))?;
        Ok(ConnectionClient::new(client, keeper))
    }

    /// The connections, of `tenant` when given; the configured one first
    /// (for no tenant only).
    pub fn list(&self, tenant: Option<&str>) -> Result<Vec<ConnectionView>, ConnectError> {
        let mut views = Vec::new();
        if tenant.is_none()
            && let Some(default) = &self.shared.default
        {
            views.push(ConnectionView::configured(default.as_ref()));
        }
        for record in self.shared.store.connections()? {
            if tenant.is_none_or(|tenant| tenant == record.tenant) {
                views.push(ConnectionView::from(&record));
            }
        }
        Ok(views)
    }

    /// The connection `id`.
    pub fn get(&self, id: &str) -> Result<ConnectionView, ConnectError> {
        if id == ConnectionId::DEFAULT
            && let Some(default) = &self.shared.default
        {
            return Ok(ConnectionView::configured(default.as_ref()));
        }
        Ok(ConnectionView::from(&self.record(id)?))
    }

    fn record(&self, id: &str) -> Result<ConnectionRecord, ConnectError> {
        let unknown = || ConnectError::UnknownConnection(id.to_owned());
        let id = ConnectionId::parse(id).ok_or_else(unknown)?;
        self.shared.store.connection(&id)?.ok_or_else(unknown)
    }

    /// Makes one live call on connection `id` (its org's limits) and says
    /// how it went, with the connection as it is after.
    pub async fn check(&self, id: &str) -> Result<CheckResult, ConnectError> {
        let client = self.client(id)?;
        let path = format!("/services/data/v{DEFAULT_API_VERSION}/limits");
        let answer = client.request("GET", &path, None).await;
        if id != ConnectionId::DEFAULT {
            let id = ConnectionId::parse(id).expect("a client was found by it");
            self.shared
                .write_use(&id, client.stats().and_then(|s| s.api_usage));
        }
        Ok(CheckResult {
            ok: answer.is_ok(),
            error: answer.err().map(|error| error.to_string()),
            error_code: None,
            connection: self.get(id)?,
        }
        .with_code())
    }

    /// Deletes connection `id`, revoking its refresh token at Salesforce
    /// first (the connection is deleted even when the revocation fails).
    pub async fn delete(&self, id: &str) -> Result<Deleted, ConnectError> {
        let record = self.record(id)?;
        let revoked = match Tokens::open(&self.shared.keys, &record.id, &record.tokens) {
            Ok(tokens) => self.revoke(&record.login_host, &tokens.refresh_token).await,
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = &revoked {
            tracing::warn!(connection = %record.id, %error, "A deleted connection's token could not be revoked.");
        }
        self.shared.store.delete_connection(&record.id)?;
        self.shared.clients().remove(&record.id);
        let mut gone = record;
        gone.status = ConnectionStatus::Revoked;
        self.shared.tell(ConnectionEventKind::Deleted, &gone, None);
        Ok(Deleted {
            id: gone.id,
            revoked: revoked.is_ok(),
            revoke_error: revoked.err(),
        })
    }

    /// Revokes `token` at `login_host`.
    async fn revoke(&self, login_host: &str, token: &str) -> Result<(), String> {
        let url = format!("{login_host}/services/oauth2/revoke");
        let response = self
            .shared
            .http
            .post(&url)
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|error| error.to_string())?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(format!(
                "{url} answered {status}: {}",
                response.text().await.unwrap_or_default()
            )),
        }
    }

    /// Every OAuth app: the configured ones, then those created through
    /// the API.
    pub fn apps(&self) -> Result<Vec<AppView>, ConnectError> {
        Ok(self.all_apps()?.iter().map(AppView::from).collect())
    }

    fn all_apps(&self) -> Result<Vec<OAuthApp>, ConnectError> {
        let mut apps = self.shared.settings.apps.clone();
        for stored in self.shared.store.oauth_apps()? {
            if apps.iter().any(|app| app.name == stored.name) {
                continue;
            }
            let owner = app_owner(&stored.name);
            let secret = self
                .shared
                .keys
                .open(&owner, &stored.client_secret.0)
                .map_err(|error| ConnectError::Secrets {
                    what: format!("the client secret of OAuth app {}", stored.name),
                    error,
                })?;
            let secret = String::from_utf8(secret.to_vec())
                .map_err(|_| ConnectError::Invalid("a stored client secret is not text".into()))?;
            apps.push(OAuthApp {
                name: stored.name,
                client_id: stored.client_id,
                client_secret: Secret::new(secret),
                scopes: stored.scopes,
                login_host: stored.login_host,
                tenant: stored.tenant,
                introspect: true,
            });
        }
        Ok(apps)
    }

    fn app(&self, name: &str) -> Result<OAuthApp, ConnectError> {
        self.all_apps()?
            .into_iter()
            .find(|app| app.name == name)
            .ok_or_else(|| ConnectError::UnknownApp(name.to_owned()))
    }

    /// Creates (or replaces) an OAuth app; its secret is sealed. An app of
    /// the configuration cannot be replaced.
    pub fn create_app(&self, app: NewOAuthApp) -> Result<AppView, ConnectError> {
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
            client_secret: crate::model::Sealed(
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
        self.shared.store.put_oauth_app(&stored)?;
        self.app(name).map(|app| AppView::from(&app))
    }

    /// Deletes an OAuth app created through the API; whether there was one.
    pub fn delete_app(&self, name: &str) -> Result<bool, ConnectError> {
        Ok(self.shared.store.delete_oauth_app(name)?)
    }

    /// How many stored connections have each status, and the tokens
    /// refreshed since start, for `/metrics`.
    pub fn totals(&self) -> Result<(Vec<(ConnectionStatus, u64)>, u64), ConnectError> {
        let mut counts: HashMap<ConnectionStatus, u64> = HashMap::new();
        for record in self.shared.store.connections()? {
            *counts.entry(record.status).or_default() += 1;
        }
        let totals = ConnectionStatus::ALL
            .iter()
            .map(|status| (*status, counts.get(status).copied().unwrap_or(0)))
            .collect();
        Ok((
            totals,
            self.shared.metrics.refreshes.load(Ordering::Relaxed),
        ))
    }

    /// Seals every stored secret under the ring's active key (after a new
    /// key was put first in the ring); what was sealed again.
    pub fn rotate_keys(
        store: &dyn ConnectionStore,
        keys: &KeyRing,
    ) -> Result<RotationReport, ConnectError> {
        let secrets = |what: String| move |error| ConnectError::Secrets { what, error };
        let mut report = RotationReport::default();
        for mut record in store.connections()? {
            let what = format!("the tokens of connection {}", record.id);
            if !keys
                .needs_reseal(&record.tokens.0)
                .map_err(secrets(what.clone()))?
            {
                continue;
            }
            let tokens =
                Tokens::open(keys, &record.id, &record.tokens).map_err(secrets(what.clone()))?;
            record.tokens = tokens.seal(keys, &record.id);
            match store.put_connection(&record, Some(record.version))? {
                Written::Done => report.connections += 1,
                _ => {
                    return Err(ConnectError::Invalid(format!(
                        "{what} changed during the rotation: run it again"
                    )));
                }
            }
        }
        for mut app in store.oauth_apps()? {
            let owner = app_owner(&app.name);
            let what = format!("the client secret of OAuth app {}", app.name);
            if !keys
                .needs_reseal(&app.client_secret.0)
                .map_err(secrets(what.clone()))?
            {
                continue;
            }
            let secret = keys
                .open(&owner, &app.client_secret.0)
                .map_err(secrets(what))?;
            app.client_secret = crate::model::Sealed(keys.seal(&owner, &secret));
            store.put_oauth_app(&app)?;
            report.apps += 1;
        }
        for session in store.connect_sessions()? {
            let Some(opened) = &session.opened else {
                continue;
            };
            let owner = session::verifier_owner(&session.id);
            let what = format!("a connect session's verifier ({})", &session.id[..8]);
            if !keys
                .needs_reseal(&opened.verifier.0)
                .map_err(secrets(what.clone()))?
            {
                continue;
            }
            let verifier = keys
                .open(&owner, &opened.verifier.0)
                .map_err(secrets(what))?;
            let mut resealed = session.clone();
            if let Some(opened) = &mut resealed.opened {
                opened.verifier = crate::model::Sealed(keys.seal(&owner, &verifier));
            }
            if store.swap_connect_session(Some(&session), &resealed)? {
                report.sessions += 1;
            }
        }
        Ok(report)
    }
}

/// The owner an app's sealed secret is bound to.
fn app_owner(name: &str) -> String {
    format!("app:{name}")
}

/// Opens every stored secret once, so that a key missing from the ring
/// stops the start, named, rather than a connection failing later.
fn verify_secrets(store: &dyn ConnectionStore, keys: &KeyRing) -> Result<(), ConnectError> {
    for record in store.connections()? {
        Tokens::open(keys, &record.id, &record.tokens).map_err(|error| ConnectError::Secrets {
            what: format!("the tokens of connection {}", record.id),
            error,
        })?;
    }
    for app in store.oauth_apps()? {
        keys.open(&app_owner(&app.name), &app.client_secret.0)
            .map_err(|error| ConnectError::Secrets {
                what: format!("the client secret of OAuth app {}", app.name),
                error,
            })?;
    }
    Ok(())
}

impl Shared {
    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, ConnectionClient>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `kind` of `record` for the embedding service's webhook, when
    /// one is configured.
    pub(crate) fn tell(
        &self,
        kind: ConnectionEventKind,
        record: &ConnectionRecord,
        error: Option<&str>,
    ) {
        if self.settings.events_url.is_none() {
            return;
        }
        let at = now();
        let event = ConnectionEvent {
            id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
            kind,
            at,
            connection_id: record.id.clone(),
            tenant: record.tenant.clone(),
            org_id: record.org_id.clone(),
            status: record.status,
            error: error.map(str::to_owned),
            attempts: 0,
            due_at: at,
        };
        match self.store.put_connection_event(&event) {
            Ok(()) => self.wake.notify_one(),
            Err(error) => {
                tracing::error!(%error, connection = %record.id, "A connection event could not be queued.");
            }
        }
    }

    /// Notes a call on `id`: written at most once a minute.
    pub(crate) fn note_use(&self, id: &ConnectionId, usage: Option<ApiUsageSnapshot>) {
        let due = {
            let mut uses = self.uses.lock().unwrap_or_else(|e| e.into_inner());
            let due = uses
                .get(id)
                .is_none_or(|written| written.elapsed() >= USE_WRITE_EVERY);
            if due {
                uses.insert(id.clone(), Instant::now());
            }
            due
        };
        if due {
            self.write_use(id, usage);
        }
    }

    /// Writes that `id` was used now, with the org's API usage.
    fn write_use(&self, id: &ConnectionId, usage: Option<ApiUsageSnapshot>) {
        for _ in 0..3 {
            let Ok(Some(mut record)) = self.store.connection(id) else {
                return;
            };
            let version = record.version;
            record.last_used = Some(now());
            if let Some(usage) = usage {
                record.api_usage = Some(ApiUsage {
                    used: usage.used,
                    max: usage.max,
                });
            }
            match self.store.put_connection(&record, Some(version)) {
                Ok(Written::Stale) => continue,
                Ok(_) => return,
                Err(error) => {
                    tracing::warn!(connection = %id, %error, "A connection's last use could not be written.");
                    return;
                }
            }
        }
    }
}
