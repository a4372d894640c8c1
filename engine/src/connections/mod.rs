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

mod apps;
mod callback;
mod client;
mod error;
pub mod events;
mod hosts;
mod keeper;
mod rotation;
mod session;
mod settings;
mod tokens;
mod upkeep;
mod view;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

pub use callback::CallbackOutcome;
pub use client::ConnectionClient;
pub use error::ConnectError;
pub use hosts::{HostPolicy, HostRefusal};
pub use keeper::{DEGRADED, DISABLED, NEEDS_REAUTH};
pub use session::{ConnectSessionRequest, CreatedSession};
pub use settings::{
    CALLBACK_PATH, ConnectSettings, DEFAULT_SCOPES, DONE_PATH, OAuthApp, PRODUCTION_LOGIN_HOST,
    START_PATH,
};
pub use view::{AppView, CheckResult, ConnectionView, Deleted, NewOAuthApp, RotationReport};

use self::keeper::Keeper;
use self::rotation::verify_secrets;
use self::tokens::Tokens;
use crate::model::{
    ApiUsage, ConnectionEvent, ConnectionEventKind, ConnectionId, ConnectionRecord,
    ConnectionStatus, now,
};
use crate::salesforce::{
    ApiUsageSnapshot, Auth, Client, Connection, DEFAULT_API_VERSION, SalesforceService, Secret,
    StartingToken,
};
use crate::secrets::KeyRing;
use crate::store::ConnectionStore;

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
    pub async fn open(
        store: Arc<dyn ConnectionStore>,
        keys: KeyRing,
        settings: ConnectSettings,
        default: Option<Arc<dyn SalesforceService>>,
    ) -> Result<Self, ConnectError> {
        verify_secrets(store.as_ref(), &keys).await?;
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

    /// The Salesforce client of connection `id` (`default` for the
    /// configured one).
    pub async fn client(&self, id: &str) -> Result<Arc<dyn SalesforceService>, ConnectError> {
        if id == ConnectionId::DEFAULT {
            return self
                .shared
                .default
                .clone()
                .ok_or_else(|| ConnectError::UnknownConnection(id.to_owned()));
        }
        let id = ConnectionId::parse(id)
            .ok_or_else(|| ConnectError::UnknownConnection(id.to_owned()))?;
        Ok(Arc::new(self.stored_client(&id).await?))
    }

    async fn stored_client(&self, id: &ConnectionId) -> Result<ConnectionClient, ConnectError> {
        if let Some(client) = self.shared.clients().get(id) {
            return Ok(client.clone());
        }
        let record = self
            .shared
            .store
            .connection(id)
            .await?
            .ok_or_else(|| ConnectError::UnknownConnection(id.to_string()))?;
        let client = self.build_client(&record).await?;
        Ok(self
            .shared
            .clients()
            .entry(id.clone())
            .or_insert(client)
            .clone())
    }

    async fn build_client(
        &self,
        record: &ConnectionRecord,
    ) -> Result<ConnectionClient, ConnectError> {
        let shared = &self.shared;
        let app = self.app(&record.app).await?;
        let tokens = Tokens::of(&shared.keys, record)?;
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
    pub async fn list(&self, tenant: Option<&str>) -> Result<Vec<ConnectionView>, ConnectError> {
        let mut views = Vec::new();
        if tenant.is_none()
            && let Some(default) = &self.shared.default
        {
            views.push(ConnectionView::configured(default.as_ref()));
        }
        for record in self.shared.store.connections().await? {
            if tenant.is_none_or(|tenant| tenant == record.tenant) {
                views.push(ConnectionView::from(&record));
            }
        }
        Ok(views)
    }

    /// The connection `id`.
    pub async fn get(&self, id: &str) -> Result<ConnectionView, ConnectError> {
        if id == ConnectionId::DEFAULT
            && let Some(default) = &self.shared.default
        {
            return Ok(ConnectionView::configured(default.as_ref()));
        }
        Ok(ConnectionView::from(&self.record(id).await?))
    }

    async fn record(&self, id: &str) -> Result<ConnectionRecord, ConnectError> {
        let unknown = || ConnectError::UnknownConnection(id.to_owned());
        let id = ConnectionId::parse(id).ok_or_else(unknown)?;
        self.shared.store.connection(&id).await?.ok_or_else(unknown)
    }

    /// Makes one live call on connection `id` (its org's limits) and says
    /// how it went, with the connection as it is after.
    pub async fn check(&self, id: &str) -> Result<CheckResult, ConnectError> {
        let client = self.client(id).await?;
        // The call's use is written now, whenever the last was.
        if let Some(id) = ConnectionId::parse(id) {
            self.shared.uses().remove(&id);
        }
        let path = format!("/services/data/v{DEFAULT_API_VERSION}/limits");
        let answer = client.request("GET", &path, None).await;
        Ok(CheckResult::new(answer.err(), self.get(id).await?))
    }

    /// Disables connection `id` (its calls fail at once with
    /// `GUST_CONNECTION_DISABLED`, nothing is refreshed) or enables it again.
    pub async fn set_disabled(
        &self,
        id: &str,
        disabled: bool,
    ) -> Result<ConnectionView, ConnectError> {
        let record = self.record(id).await?;
        let updated = self
            .shared
            .store
            .update_connection(&record.id, &mut |record| {
                record.status = match (disabled, record.status) {
                    (true, _) => ConnectionStatus::Disabled,
                    (false, ConnectionStatus::Disabled) => ConnectionStatus::Active,
                    (false, status) => status,
                };
                true
            })
            .await?;
        let (_, after) = updated.ok_or_else(|| ConnectError::UnknownConnection(id.to_owned()))?;
        if let Some(client) = self.shared.clients().get(&after.id) {
            client.set_status(after.status);
        }
        Ok(ConnectionView::from(&after))
    }

    /// Deletes connection `id`, revoking its refresh token at Salesforce
    /// first (the connection is deleted even when the revocation fails).
    pub async fn delete(&self, id: &str) -> Result<Deleted, ConnectError> {
        let record = self.record(id).await?;
        let revoked = match Tokens::of(&self.shared.keys, &record) {
            Ok(tokens) => self.revoke(&record.login_host, &tokens.refresh_token).await,
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = &revoked {
            tracing::warn!(connection = %record.id, %error, "A deleted connection's token could not be revoked.");
        }
        self.shared.store.delete_connection(&record.id).await?;
        self.shared.clients().remove(&record.id);
        self.shared.uses().remove(&record.id);
        let mut gone = record;
        gone.status = ConnectionStatus::Revoked;
        self.shared
            .tell(ConnectionEventKind::Deleted, &gone, None)
            .await;
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

    /// How many stored connections have each status, and the tokens
    /// refreshed since start, for `/metrics`.
    pub async fn totals(&self) -> Result<(Vec<(ConnectionStatus, u64)>, u64), ConnectError> {
        let mut counts: HashMap<ConnectionStatus, u64> = HashMap::new();
        for record in self.shared.store.connections().await? {
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
}

impl Shared {
    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, ConnectionClient>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn uses(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, Instant>> {
        self.uses.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `kind` of `record` for the embedding service's webhook, when
    /// one is configured.
    pub(crate) async fn tell(
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
        match self.store.put_connection_event(&event).await {
            Ok(()) => self.wake.notify_one(),
            Err(error) => {
                tracing::error!(%error, connection = %record.id, "A connection event could not be queued.");
            }
        }
    }

    /// Notes a call on `id`: written at most once a minute.
    pub(crate) async fn note_use(&self, id: &ConnectionId, usage: Option<ApiUsageSnapshot>) {
        let due = {
            let mut uses = self.uses();
            let due = uses
                .get(id)
                .is_none_or(|written| written.elapsed() >= USE_WRITE_EVERY);
            if due {
                uses.insert(id.clone(), Instant::now());
            }
            due
        };
        if due {
            self.write_use(id, usage).await;
        }
    }

    /// Writes that `id` was used now, with the org's API usage.
    async fn write_use(&self, id: &ConnectionId, usage: Option<ApiUsageSnapshot>) {
        let written = self
            .store
            .update_connection(id, &mut |record| {
                record.last_used = Some(now());
                if let Some(usage) = usage {
                    record.api_usage = Some(ApiUsage {
                        used: usage.used,
                        max: usage.max,
                    });
                }
                true
            })
            .await;
        if let Err(error) = written {
            tracing::warn!(connection = %id, %error, "A connection's last use could not be written.");
        }
    }
}
