//! The shared store: PostgreSQL, for several `gust serve` nodes on one
//! database, and for acknowledgements that survive a power cut (each is a
//! committed transaction, `synchronous_commit` on).
//!
//! Every table is `gust_*` (`postgres/migrations/`); the schema is applied
//! at open, inside a transaction under an advisory lock, so nodes starting
//! together apply it once. No transaction is held while a step runs.
//!
//! Each open store is a node with a random id and a heartbeat
//! (`gust_nodes`). A run belongs to the node that accepted or took it over
//! (`owner`), at an `epoch`; every write of the run names the epoch the
//! node holds, so a node whose lease lapsed (its heartbeat older than the
//! lease) cannot write a run another node has taken over since
//! (`postgres/nodes.rs`).

mod connections;
mod installations;
mod migrate;
mod nodes;
mod runs;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio_postgres::NoTls;
use tokio_postgres::types::Json;
use tokio_util::sync::CancellationToken;

pub use migrate::{Migration, MigrationStatus};

use super::StoreError;
use crate::model::RunId;

/// How many connections one node keeps to the database unless told.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// How long a node's runs stay its own after its last heartbeat, unless
/// told: past it, other nodes take them over.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// The PostgreSQL store.
pub struct PostgresStore {
    pool: Pool,
    /// This node.
    node: uuid::Uuid,
    /// How long this node's runs stay its own after its last heartbeat.
    lease: Duration,
    /// The epoch at which this node holds each unfinished run it runs.
    held: Mutex<HashMap<RunId, i64>>,
    /// Told when another node releases runs.
    released: Arc<Notify>,
    /// Stops the heartbeat and the listener when the store is dropped.
    stop: CancellationToken,
    /// Transactions committed by writes that acknowledge something.
    commits: AtomicU64,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`),
    /// brings its schema up to date and joins as a node with the default
    /// lease.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, DEFAULT_POOL_SIZE, DEFAULT_LEASE).await
    }

    /// [`PostgresStore::open`] with at most `pool_size` connections and
    /// runs held `lease` past this node's last heartbeat.
    pub async fn open_with(
        url: &str,
        pool_size: usize,
        lease: Duration,
    ) -> Result<Self, StoreError> {
        let mut store = Self::connect(url, pool_size)?;
        store.lease = lease.max(Duration::from_secs(1));
        store.migrate().await?;
        store.join(url).await?;
        Ok(store)
    }

    /// Connects to the database at `url` with at most `pool_size`
    /// connections, leaving the schema as it is and joining no nodes.
    pub fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let config = tokio_postgres::Config::from_str(url).map_err(|error| {
            StoreError::Unavailable(format!(
                "`{}` is not a PostgreSQL URL (postgres://user:password@host:port/database): {error}",
                redact(url)
            ))
        })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .build()
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        Ok(Self {
            pool,
            node: uuid::Uuid::now_v7(),
            lease: DEFAULT_LEASE,
            held: Mutex::default(),
            released: Arc::new(Notify::new()),
            stop: CancellationToken::new(),
            commits: AtomicU64::new(0),
        })
    }

    /// Applies the migrations the database lacks; the versions applied.
    pub async fn migrate(&self) -> Result<Vec<u32>, StoreError> {
        let mut client = self.client().await?;
        migrate::apply(&mut client).await
    }

    /// Every migration this build knows, with whether the database has it.
    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let client = self.client().await?;
        migrate::status(&client).await
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|error| StoreError::Unavailable(format!("cannot reach PostgreSQL: {error}")))
    }

    /// Counts a committed transaction that acknowledged something.
    fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// The runs this node holds, by the epoch it holds each at.
    fn held(&self) -> MutexGuard<'_, HashMap<RunId, i64>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A database error: the store is unavailable, or a stored row is not what
/// this build reads.
fn db_error(error: tokio_postgres::Error) -> StoreError {
    match error.as_db_error() {
        Some(db) => StoreError::Unavailable(format!("PostgreSQL: {}", db.message())),
        None => StoreError::Unavailable(format!("PostgreSQL: {error}")),
    }
}

/// `value` as a JSON parameter.
fn json<T: Serialize>(value: &T) -> Json<&T> {
    Json(value)
}

/// A JSON column read back as `T`.
fn from_json<T: DeserializeOwned>(value: serde_json::Value, what: &str) -> Result<T, StoreError> {
    serde_json::from_value(value)
        .map_err(|error| StoreError::Corrupt(format!("a stored {what}: {error}")))
}

/// A run id as the `uuid` it is stored as.
fn uuid(id: RunId) -> uuid::Uuid {
    uuid::Uuid::from_bytes(*id.as_bytes())
}

/// A stored `uuid` as a run id.
fn run_id(id: uuid::Uuid) -> RunId {
    RunId::from_slice(id.as_bytes()).unwrap_or_default()
}

/// `url` without its password, for messages.
pub(super) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            redact("postgres://gust:s3cret@db:5432/gust"),
            "postgres://gust:***@db:5432/gust"
        );
        assert_eq!(redact("postgres://db:5432/gust"), "postgres://db:5432/gust");
    }

    #[test]
    fn a_bad_url_says_what_one_looks_like() {
        let Err(error) = PostgresStore::connect("mysql://nope", 2) else {
            panic!("a MySQL URL was taken");
        };
        assert!(error.to_string().contains("postgres://"), "{error}");
    }
}
