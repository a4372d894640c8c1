//! Group commit of acceptances: concurrent webhooks and Outbound Messages
//! are stored by one statement, one commit and one WAL flush for all of
//! them.
//!
//! Each acceptance without state writes hands its runs to a collector
//! task. The collector takes every acceptance waiting (up to [`MAX_BATCH`])
//! and inserts their runs with one `INSERT ... SELECT FROM unnest`
//! outside an explicit transaction: one round trip, committed with
//! `synchronous_commit` on before any of them is answered. While
//! [`IN_FLIGHT`] batches are being committed the next runs wait, so under
//! load one commit acknowledges every request that arrived during the
//! previous one. A batch is stored whole or not at all; a run whose dedupe
//! key its lane already holds (stored earlier, or earlier in the same
//! batch) is answered with the run that holds it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use deadpool_postgres::Pool;
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_postgres::types::Json;

use super::runs::RunColumns;
use super::{Statements, from_json, uuid};
use crate::model::{InstallationId, RunId, RunRecord};
use crate::store::{Accepted, NewRun, StoreError};

/// The most acceptances one statement stores.
const MAX_BATCH: usize = 256;

/// How many batches may be committing at once.
const IN_FLIGHT: usize = 4;

/// Stores a batch's runs (each column an array, in order) for the node
/// `$13` at epoch 1, but those whose dedupe key their lane holds; the ids
/// stored.
const INSERT_RUNS: &str = "INSERT INTO gust_runs (id, workflow, lane, tenant, installation, status, failed_open, \
             due_at, created_at, dedupe_key, record, event, owner, epoch) \
             SELECT id, workflow, lane, tenant, installation, status, failed_open, due_at, \
             created_at, dedupe_key, record, event, $13, 1 \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::boolean[], $8::timestamptz[], $9::timestamptz[], $10::text[], \
             $11::json[], $12::json[]) AS r(id, workflow, lane, tenant, installation, status, \
             failed_open, due_at, created_at, dedupe_key, record, event) \
             ON CONFLICT (lane, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id";

/// The runs holding the (lane, dedupe key) pairs `$1`, `$2`.
const HOLDERS: &str = "SELECT r.lane, r.dedupe_key, r.record FROM gust_runs r \
                 JOIN unnest($1::text[], $2::text[]) AS k(lane, dedupe_key) \
                 ON r.lane = k.lane AND r.dedupe_key = k.dedupe_key";

/// Runs waiting to be stored together, and who to tell.
struct Waiting {
    runs: Vec<NewRun>,
    reply: oneshot::Sender<Result<Vec<Accepted>, StoreError>>,
}

/// Stores the runs of concurrent acceptances together.
pub(super) struct GroupCommit {
    waiting: mpsc::UnboundedSender<Waiting>,
}

/// What the collector shares with the store.
pub(super) struct Shared {
    pub(super) pool: Pool,
    /// This node: it holds the runs it stores, at epoch 1.
    pub(super) node: uuid::Uuid,
    /// The store's runs held, by epoch.
    pub(super) held: Arc<Mutex<HashMap<RunId, i64>>>,
    /// The store's count of acknowledging commits.
    pub(super) commits: Arc<AtomicU64>,
}

impl GroupCommit {
    /// Starts the collector; it ends when this is dropped.
    pub(super) fn start(shared: Shared) -> Self {
        let (waiting, queue) = mpsc::unbounded_channel();
        tokio::spawn(collect(Arc::new(shared), queue));
        Self { waiting }
    }

    /// Stores `runs`, all or none, with whatever runs are waiting beside
    /// them; what became of each, in order.
    pub(super) async fn accept(&self, runs: Vec<NewRun>) -> Result<Vec<Accepted>, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.waiting
            .send(Waiting { runs, reply })
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the store is closing".to_owned())
}

/// Takes waiting runs in batches and stores each batch.
async fn collect(shared: Arc<Shared>, mut queue: mpsc::UnboundedReceiver<Waiting>) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut runs = Vec::new();
            let mut replies = Vec::with_capacity(batch.len());
            for waiting in batch {
                replies.push((waiting.runs.len(), waiting.reply));
                runs.extend(waiting.runs);
            }
            match insert(&shared, &runs).await {
                Ok(accepted) => {
                    shared.commits.fetch_add(1, Ordering::Relaxed);
                    let mut held = shared.held.lock().unwrap_or_else(|e| e.into_inner());
                    for accepted in &accepted {
                        if let Accepted::New(run) = accepted {
                            held.insert(run.id, 1);
                        }
                    }
                    drop(held);
                    let mut accepted = accepted.into_iter();
                    for (count, reply) in replies {
                        // A caller that went away needs no answer.
                        reply.send(Ok(accepted.by_ref().take(count).collect())).ok();
                    }
                }
                Err(error) => {
                    for (_, reply) in replies {
                        reply.send(Err(error.clone())).ok();
                    }
                }
            }
            drop(permit);
        });
    }
}

/// Stores `runs` with one statement; what became of each, in order.
async fn insert(shared: &Shared, runs: &[NewRun]) -> Result<Vec<Accepted>, StoreError> {
    let client =
        shared.pool.get().await.map_err(|error| {
            StoreError::Unavailable(format!("cannot reach PostgreSQL: {error}"))
        })?;
    let records: Vec<&RunRecord> = runs.iter().map(|run| &run.record).collect();
    let lanes: Vec<String> = records.iter().map(|record| record.lane()).collect();
    let columns: Vec<RunColumns> = records
        .iter()
        .map(|record| RunColumns::of(record))
        .collect();
    let events: Vec<Json<&Value>> = runs.iter().map(|run| Json(&run.event)).collect();
    let stored: HashSet<uuid::Uuid> = client
        .rows(
            INSERT_RUNS,
            &[
                &columns.iter().map(|c| c.id).collect::<Vec<_>>(),
                &records
                    .iter()
                    .map(|r| r.workflow.as_str())
                    .collect::<Vec<_>>(),
                &lanes,
                &records
                    .iter()
                    .map(|r| r.tenant.as_deref())
                    .collect::<Vec<_>>(),
                &records
                    .iter()
                    .map(|r| r.installation.as_ref().map(InstallationId::as_str))
                    .collect::<Vec<_>>(),
                &columns.iter().map(|c| c.status).collect::<Vec<_>>(),
                &columns.iter().map(|c| c.failed_open).collect::<Vec<_>>(),
                &columns.iter().map(|c| c.due_at).collect::<Vec<_>>(),
                &records.iter().map(|r| r.created_at).collect::<Vec<_>>(),
                &records
                    .iter()
                    .map(|r| r.dedupe_key.as_deref())
                    .collect::<Vec<_>>(),
                &columns.iter().map(|c| Json(c.record.0)).collect::<Vec<_>>(),
                &events,
                &shared.node,
            ],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut holders = HashMap::new();
    if stored.len() < runs.len() {
        // The runs not stored lost to a dedupe key: answer each with the run
        // that holds it.
        let (lanes, keys): (Vec<&str>, Vec<&str>) = records
            .iter()
            .zip(&lanes)
            .filter(|(record, _)| !stored.contains(&uuid(record.id)))
            .filter_map(|(record, lane)| Some((lane.as_str(), record.dedupe_key.as_deref()?)))
            .unzip();
        for row in client.rows(HOLDERS, &[&lanes, &keys]).await? {
            let holder: RunRecord = from_json(row.get(2), "run")?;
            holders.insert((row.get::<_, String>(0), row.get::<_, String>(1)), holder);
        }
    }
    records
        .iter()
        .zip(lanes)
        .map(|(record, lane)| {
            if stored.contains(&uuid(record.id)) {
                return Ok(Accepted::New((*record).clone()));
            }
            let key = (lane, record.dedupe_key.clone().unwrap_or_default());
            holders
                .get(&key)
                .cloned()
                .map(Accepted::Duplicate)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "the run {} was not stored and no run holds its dedupe key",
                        record.id
                    ))
                })
        })
        .collect()
}
