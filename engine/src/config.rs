//! What an [`Engine`](crate::Engine) is built from.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::connections::ConnectSettings;
pub use crate::runtime::DEFAULT_MAX_READ_BYTES;
use crate::salesforce::{NoConnection, SalesforceService};
pub use crate::store::DEFAULT_CACHE_BYTES as DEFAULT_STORE_CACHE_BYTES;
use crate::store::StoreLocation;
use crate::trigger::outbound_message::DEFAULT_MAX_MESSAGE_BYTES;
use crate::wasm::SandboxConfig;

/// The settings of an engine. `Config::new(data_dir)` gives the defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the store lives (`<data_dir>/store`) and compiled components
    /// are cached (`<data_dir>/components`, unless `sandbox.cache_dir` says
    /// otherwise).
    pub data_dir: PathBuf,
    /// Where the store is: `None` keeps the embedded one in
    /// `<data_dir>/store`; a PostgreSQL database is shared by several
    /// servers.
    pub store: Option<StoreLocation>,
    /// On a shared store, how long this server's unfinished runs stay its
    /// own after its last heartbeat; past it, other servers take them over.
    pub store_lease: Duration,
    /// The most runs running at once.
    pub workers: usize,
    /// The most runs accepted and not finished; past it webhooks answer 503
    /// with `Retry-After`, Outbound Messages a SOAP fault (Salesforce sends
    /// them again), and polls and schedules wait.
    pub max_backlog: usize,
    /// The embedded store's cache of its pages in memory, in bytes.
    pub store_cache_bytes: u64,
    /// The most runs of one workflow running at once, unless the workflow
    /// sets `concurrency`.
    pub default_concurrency: usize,
    /// The largest webhook body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// The largest Outbound Message accepted, in bytes; larger ones get a
    /// SOAP fault with 413.
    pub max_outbound_message_bytes: usize,
    /// How long a `"respond": "sync"` webhook waits for its run before
    /// answering 202 with the run id.
    pub sync_timeout: Duration,
    /// Finished runs older than this are pruned; `None` keeps them all.
    pub retention: Option<Duration>,
    /// How long shutdown waits for steps in flight before cutting them off
    /// (they resume on the next start).
    pub shutdown_grace: Duration,
    /// The bearer token the admin API and `/metrics` require, if any.
    pub admin_token: Option<String>,
    /// The sandbox's settings.
    pub sandbox: SandboxConfig,
    /// The largest answer of a Salesforce read the call journal keeps, in
    /// bytes; a step run again reads a larger one again. Writes' answers
    /// are always kept.
    pub journal_max_read_bytes: usize,
    /// Where steps' Salesforce calls go: a [`Client`](crate::salesforce::Client),
    /// or [`NoConnection`] (the default).
    pub salesforce: Arc<dyn SalesforceService>,
    /// How customers' connections are made and kept: the OAuth apps, the
    /// public URL, the redirect allow-list, events.
    pub connect: ConnectSettings,
    /// Where Salesforce's Pub/Sub API is, for the Salesforce events
    /// trigger: Salesforce's global endpoint by default.
    pub pubsub: gust_pubsub::client::Endpoint,
    /// The key file secrets are sealed with, when `GUST_SECRET_KEYS` is not
    /// set (by default `secret.key` in the data directory, made when missing).
    pub secret_key_file: Option<PathBuf>,
}

/// The URL connect links and the OAuth callback use unless told: the
/// server's default address.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";
/// The default `workers`.
pub const DEFAULT_WORKERS: usize = 64;
/// The default `max_backlog`: what a trivial workflow runs in a few seconds
/// and a Salesforce-bound one in minutes, about 1 MB of queue in memory.
pub const DEFAULT_MAX_BACKLOG: usize = 10_000;
/// The default `default_concurrency`.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// The default `max_body_bytes`: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The default `sync_timeout`.
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(30);
/// The default `retention`: 30 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The default `shutdown_grace`.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

impl Config {
    /// Where the store is: `store`, else the embedded one in the data
    /// directory.
    pub fn store_location(&self) -> StoreLocation {
        self.store
            .clone()
            .unwrap_or_else(|| StoreLocation::Embedded(self.data_dir.join("store")))
    }

    /// The defaults, keeping data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            sandbox: SandboxConfig {
                cache_dir: Some(data_dir.join("components")),
                ..SandboxConfig::default()
            },
            data_dir,
            store: None,
            store_lease: crate::store::DEFAULT_LEASE,
            workers: DEFAULT_WORKERS,
            max_backlog: DEFAULT_MAX_BACKLOG,
            store_cache_bytes: DEFAULT_STORE_CACHE_BYTES,
            default_concurrency: DEFAULT_CONCURRENCY,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_outbound_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            sync_timeout: DEFAULT_SYNC_TIMEOUT,
            retention: Some(DEFAULT_RETENTION),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            admin_token: None,
            journal_max_read_bytes: DEFAULT_MAX_READ_BYTES,
            salesforce: Arc::new(NoConnection),
            connect: ConnectSettings::new(DEFAULT_PUBLIC_URL),
            secret_key_file: None,
            pubsub: gust_pubsub::client::Endpoint::default(),
        }
    }
}
