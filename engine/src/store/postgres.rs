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
mod group_commit;
mod installations;
mod leases;
mod listing;
mod migrate;
mod nodes;
mod runs;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio_postgres::NoTls;
use tokio_postgres::Row;
use tokio_postgres::types::{Json, ToSql};
use tokio_util::sync::CancellationToken;

use group_commit::GroupCommit;
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
    held: Arc<Mutex<HashMap<RunId, i64>>>,
    /// The epoch at which this node holds each trigger lease it took.
    leases: Mutex<HashMap<String, i64>>,
    /// Told when another node releases runs.
    released: Arc<Notify>,
    /// Stops the heartbeat and the listener when the store is dropped.
    stop: CancellationToken,
    /// Transactions committed by writes that acknowledge something.
    commits: Arc<AtomicU64>,
    /// Stores concurrent acceptances together, started by the first.
    group_commit: OnceLock<GroupCommit>,
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
            held: Arc::default(),
            leases: Mutex::default(),
            released: Arc::new(Notify::new()),
            stop: CancellationToken::new(),
            commits: Arc::default(),
            group_commit: OnceLock::new(),
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

    /// The collector of acceptances, started on first use.
    fn group_commit(&self) -> &GroupCommit {
        self.group_commit.get_or_init(|| {
            GroupCommit::start(group_commit::Shared {
                pool: self.pool.clone(),
                node: self.node,
                held: self.held.clone(),
                commits: self.commits.clone(),
            })
        })
    }

    /// Counts a committed transaction that acknowledged something.
    fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// The runs this node holds, by the epoch it holds each at.
    fn held(&self) -> MutexGuard<'_, HashMap<RunId, i64>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The trigger leases this node took, by the epoch it took each at.
    fn leases(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        self.leases.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Statements prepared once per connection (and kept with it), answering
/// with the store's errors: what the store's queries go through.
#[async_trait]
trait Statements {
    /// Runs `sql`; how many rows it wrote.
    async fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError>;
    /// The rows `sql` answers.
    async fn rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)])
    -> Result<Vec<Row>, StoreError>;
    /// The row `sql` answers, if it answers one.
    async fn row_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError>;
    /// The one row `sql` answers.
    async fn row_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, StoreError>;
}

#[async_trait]
impl<C: GenericClient> Statements for C {
    async fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let statement = self.prepare_cached(sql).await.map_err(db_error)?;
        self.execute(&statement, params).await.map_err(db_error)
    }

    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let statement = self.prepare_cached(sql).await.map_err(db_error)?;
        self.query(&statement, params).await.map_err(db_error)
    }

    async fn row_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let statement = self.prepare_cached(sql).await.map_err(db_error)?;
        self.query_opt(&statement, params).await.map_err(db_error)
    }

    async fn row_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, StoreError> {
        let statement = self.prepare_cached(sql).await.map_err(db_error)?;
        self.query_one(&statement, params).await.map_err(db_error)
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

    /// Two nodes on one new database, each with a lease of `lease`.
    async fn two_nodes(lease: Duration) -> (PostgresStore, PostgresStore) {
        let url = gust_test_postgres::database();
        let (a, b) = tokio::join!(
            PostgresStore::open_with(&url, 4, lease),
            PostgresStore::open_with(&url, 4, lease)
        );
        (a.unwrap(), b.unwrap())
    }

    /// Stops `node`'s heartbeat, as a node stopped or cut off would.
    fn silence(node: &PostgresStore) {
        node.stop.cancel();
    }

    #[tokio::test]
    async fn nodes_starting_together_apply_each_migration_once() {
        let (a, _b) = two_nodes(DEFAULT_LEASE).await;
        let status = a.migration_status().await.unwrap();
        assert!(status.iter().all(|version| version.applied_at.is_some()));
        assert_eq!(
            a.migrate().await.unwrap(),
            Vec::<u32>::new(),
            "nothing left"
        );
    }

    #[tokio::test]
    async fn a_run_taken_over_cannot_be_written_by_the_node_that_lost_it() {
        use crate::model::{RunRecord, RunStatus, StepRecord};
        use crate::store::{JournalStore, JournalWrite, NewRun, Store, Transition};

        let (a, b) = two_nodes(Duration::from_secs(1)).await;
        let record = RunRecord::queued(RunId::new(), "leads");
        let run = NewRun {
            record: record.clone(),
            event: serde_json::json!({}),
        };
        a.accept(&run).await.unwrap();
        assert!(
            b.take_over(10).await.unwrap().is_empty(),
            "a live node's run"
        );
        silence(&a);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let taken = b.take_over(10).await.unwrap();
        assert_eq!(
            taken.iter().map(|run| run.id).collect::<Vec<_>>(),
            [record.id]
        );
        assert!(b.take_over(10).await.unwrap().is_empty(), "taken once");

        // The node that lost it writes nothing of it: no step's end, no
        // journal entry (so no Salesforce write is sent).
        let mut ended = record.clone();
        ended.status = RunStatus::Succeeded;
        ended.due_at = None;
        let transition = Transition {
            previous: (record.status, record.due_at),
            run: ended.clone(),
            step: Some((0, StepRecord::start("a", serde_json::json!(null)))),
            state_writes: Vec::new(),
        };
        let refused = a.transition(transition.clone(), true).await.unwrap_err();
        assert_eq!(refused, StoreError::TakenOver(record.id));
        let entry = crate::store::tests::entry(1, "\"x\"");
        let write = JournalWrite {
            run: record.id,
            step: "a",
            entry: &entry,
            forget: 0..0,
        };
        let refused = a.record(write.clone(), true).await.unwrap_err();
        assert_eq!(refused, StoreError::TakenOver(record.id));
        assert_eq!(
            b.run(record.id).await.unwrap().unwrap().status,
            RunStatus::Queued
        );

        // The node that took it does.
        b.record(write, true).await.unwrap();
        b.transition(transition, true).await.unwrap();
        assert_eq!(
            b.run(record.id).await.unwrap().unwrap().status,
            RunStatus::Succeeded
        );
    }

    #[tokio::test]
    async fn a_node_stopping_releases_its_runs_to_the_others_at_once() {
        use crate::model::RunRecord;
        use crate::store::{NewRun, Store};

        let (a, b) = two_nodes(DEFAULT_LEASE).await;
        let woken = b.released.clone();
        let record = RunRecord::queued(RunId::new(), "leads");
        let run = NewRun {
            record: record.clone(),
            event: serde_json::json!({}),
        };
        a.accept(&run).await.unwrap();
        assert_eq!(a.release().await.unwrap(), 1);
        tokio::time::timeout(Duration::from_secs(10), woken.notified())
            .await
            .expect("the other node is told");
        let taken = b.take_over(10).await.unwrap();
        assert_eq!(
            taken.iter().map(|run| run.id).collect::<Vec<_>>(),
            [record.id]
        );
    }

    #[tokio::test]
    async fn a_trigger_is_run_by_one_node_at_a_time_and_a_late_cursor_is_refused() {
        use crate::model::StateWrite;
        use crate::store::{StateStore, Store};

        let (a, b) = two_nodes(Duration::from_secs(1)).await;
        let cursor = |value: &str| StateWrite {
            scope: "leads".into(),
            key: "trigger:salesforce_poll".into(),
            value: Some(value.into()),
        };
        assert!(a.hold_trigger("leads").await.unwrap());
        assert!(!b.hold_trigger("leads").await.unwrap(), "a holds it");
        a.accept_all(&[], &[cursor("1")]).await.unwrap();
        // a stops renewing; past the lease b takes the trigger over.
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(b.hold_trigger("leads").await.unwrap());
        b.accept_all(&[], &[cursor("2")]).await.unwrap();
        let refused = a.accept_all(&[], &[cursor("late")]).await.unwrap_err();
        assert_eq!(refused, StoreError::TriggerTakenOver("leads".into()));
        assert_eq!(
            b.get("leads", "trigger:salesforce_poll")
                .await
                .unwrap()
                .as_deref(),
            Some("2")
        );
        assert!(!a.hold_trigger("leads").await.unwrap(), "b holds it now");
    }

    #[test]
    fn a_bad_url_says_what_one_looks_like() {
        let Err(error) = PostgresStore::connect("mysql://nope", 2) else {
            panic!("a MySQL URL was taken");
        };
        assert!(error.to_string().contains("postgres://"), "{error}");
    }
}
