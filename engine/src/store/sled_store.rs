//! The embedded store: one sled tree (see [`super::keys`]), read directly
//! and written through the group-commit [`Writer`].
//!
//! sled's flush writes its log and syncs it with `sync_file_range`: an
//! acknowledged write survives the process being killed, not a power cut.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::writer::{Batch, Writer};
use super::{
    Accepted, NewRun, QueuedRun, RunId, RunPage, RunQuery, Store, StoreError, Transition, keys,
};
use crate::runner::StepReport;
use crate::runtime::{RunRecord, RunStatus};
use crate::state::{StateError, StateStore, StateWrite};

/// The sled store.
pub struct SledStore {
    db: sled::Db,
    writer: Writer,
}

impl SledStore {
    /// Opens (or creates) the store in `dir`. Only one process may have it
    /// open.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|error| {
                StoreError::Unavailable(format!(
                    "cannot open the store in {}: {error} (is another Gust using it?)",
                    dir.display()
                ))
            })?;
        let writer = Writer::start(db.clone());
        Ok(Self { db, writer })
    }

    /// Applies `batch` through the writer; `Some(value)` when the key
    /// `unless_exists` was already stored and nothing was written.
    async fn write(
        &self,
        batch: Batch,
        unless_exists: Option<Vec<u8>>,
        durable: bool,
    ) -> Result<Option<sled::IVec>, StoreError> {
        self.writer
            .write(batch, unless_exists, durable)
            .await
            .map_err(StoreError::Unavailable)
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.db
            .get(key)
            .map_err(unavailable)?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    fn batch_remove_run(&self, batch: &mut Batch, run: &RunRecord) -> Result<(), StoreError> {
        batch.remove(keys::run(run.id));
        batch.remove(keys::event(run.id));
        for entry in self.db.scan_prefix(keys::steps(run.id)).keys() {
            batch.remove(entry.map_err(unavailable)?.to_vec());
        }
        batch.remove(keys::by_workflow(&run.workflow, run.id));
        batch.remove(keys::failed(run.id));
        if let Some(due) = run.due_at {
            batch.remove(keys::queued(millis(due), run.id));
        }
        if let Some(key) = &run.dedupe_key {
            batch.remove(keys::dedupe(&run.workflow, key));
        }
        Ok(())
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        self.writer.close();
        if let Err(error) = self.db.flush() {
            tracing::error!(%error, "Flushing the store on close failed.");
        }
    }
}

#[async_trait]
impl Store for SledStore {
    async fn accept(&self, run: &NewRun) -> Result<Accepted, StoreError> {
        let record = &run.record;
        let mut batch = Batch::default();
        batch.insert(keys::run(record.id), encode(&record)?);
        batch.insert(keys::event(record.id), encode(&run.event)?);
        batch.insert(keys::by_workflow(&record.workflow, record.id), []);
        if let Some(due) = record.due_at {
            batch.insert(
                keys::queued(millis(due), record.id),
                record.workflow.as_bytes(),
            );
        }
        let dedupe = record
            .dedupe_key
            .as_ref()
            .map(|dedupe_key| keys::dedupe(&record.workflow, dedupe_key));
        if let Some(dedupe) = &dedupe {
            batch.insert(dedupe.clone(), record.id.as_bytes());
        }
        match self.write(batch, dedupe, true).await? {
            None => Ok(Accepted::New(record.clone())),
            Some(existing) => {
                let id = RunId::from_slice(&existing)
                    .ok_or_else(|| StoreError::Corrupt("a dedupe entry".to_owned()))?;
                let run = self.run(id)?.ok_or_else(|| {
                    StoreError::Corrupt(format!("the dedupe entry names a missing run {id}"))
                })?;
                Ok(Accepted::Duplicate(run))
            }
        }
    }

    async fn transition(&self, transition: Transition, durable: bool) -> Result<(), StoreError> {
        let run = &transition.run;
        let (previous_status, previous_due) = transition.previous;
        let mut batch = Batch::default();
        // A failed run never changes again (a replay is a new run).
        if run.status == RunStatus::Failed && previous_status != RunStatus::Failed {
            batch.insert(keys::failed(run.id), []);
        }
        if previous_due != run.due_at {
            if let Some(due) = previous_due {
                batch.remove(keys::queued(millis(due), run.id));
            }
            if let Some(due) = run.due_at {
                batch.insert(keys::queued(millis(due), run.id), run.workflow.as_bytes());
            }
        }
        batch.insert(keys::run(run.id), encode(run)?);
        if let Some((index, step)) = &transition.step {
            batch.insert(keys::step(run.id, *index), encode(step)?);
        }
        add_state_writes(&mut batch, &transition.state_writes);
        self.write(batch, None, durable).await.map(drop)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.write(Batch::default(), None, true).await.map(drop)
    }

    fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        self.get(&keys::run(id))
    }

    fn event(&self, id: RunId) -> Result<Option<Value>, StoreError> {
        self.get(&keys::event(id))
    }

    fn steps(&self, id: RunId) -> Result<Vec<StepReport>, StoreError> {
        self.db
            .scan_prefix(keys::steps(id))
            .values()
            .map(|value| decode(&value.map_err(unavailable)?))
            .collect()
    }

    fn queued(&self) -> Result<Vec<QueuedRun>, StoreError> {
        self.db
            .scan_prefix(keys::queue())
            .map(|entry| {
                let (key, workflow) = entry.map_err(unavailable)?;
                let corrupt = || StoreError::Corrupt("a queue entry".to_owned());
                let due = keys::queued_due(&key).ok_or_else(corrupt)?;
                Ok(QueuedRun {
                    id: keys::trailing_run_id(&key).ok_or_else(corrupt)?,
                    workflow: String::from_utf8(workflow.to_vec()).map_err(|_| corrupt())?,
                    due_at: DateTime::from_timestamp_millis(due as i64).ok_or_else(corrupt)?,
                })
            })
            .collect()
    }

    fn list(&self, query: &RunQuery) -> Result<RunPage, StoreError> {
        let (prefix, is_index) = match (&query.workflow, query.status) {
            (Some(workflow), _) => (keys::workflow_runs(workflow), true),
            (None, Some(RunStatus::Failed)) => (keys::failed_runs(), true),
            _ => (keys::runs(), false),
        };
        let end = match query.before {
            Some(before) => [prefix.as_slice(), before.as_bytes()].concat(),
            None => keys::prefix_end(&prefix),
        };
        let runs = self.db.range(prefix..end).rev().filter_map(|entry| {
            let (key, value) = match entry {
                Ok(entry) => entry,
                Err(error) => return Some(Err(unavailable(error))),
            };
            if !is_index {
                return Some(decode(&value));
            }
            match keys::trailing_run_id(&key) {
                Some(id) => self.run(id).transpose(),
                None => Some(Err(StoreError::Corrupt(
                    "an index key holds no run id".to_owned(),
                ))),
            }
        });
        RunPage::gather(runs, query.status, query.limit)
    }

    fn flushes(&self) -> u64 {
        self.writer.flushes()
    }

    fn prune(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut pruned = 0;
        for entry in self.db.scan_prefix(keys::runs()).values() {
            let run: RunRecord = decode(&entry.map_err(unavailable)?)?;
            if run.created_at >= before {
                break;
            }
            if !run.status.is_final() {
                continue;
            }
            let mut batch = Batch::default();
            self.batch_remove_run(&mut batch, &run)?;
            batch.apply_to(&self.db).map_err(unavailable)?;
            pruned += 1;
        }
        Ok(pruned)
    }
}

impl StateStore for SledStore {
    fn get(&self, scope: &str, key: &str) -> Result<Option<String>, StateError> {
        let value = self
            .db
            .get(keys::state(scope, key))
            .map_err(|error| StateError(error.to_string()))?;
        value
            .map(|bytes| String::from_utf8(bytes.to_vec()))
            .transpose()
            .map_err(|_| StateError(format!("the value of `{key}` is not UTF-8")))
    }

    fn apply(&self, writes: &[StateWrite]) -> Result<(), StateError> {
        let mut batch = Batch::default();
        add_state_writes(&mut batch, writes);
        batch
            .apply_to(&self.db)
            .map_err(|error| StateError(error.to_string()))
    }
}

fn add_state_writes(batch: &mut Batch, writes: &[StateWrite]) {
    for write in writes {
        let key = keys::state(&write.scope, &write.key);
        match &write.value {
            Some(value) => batch.insert(key, value.as_bytes()),
            None => batch.remove(key),
        }
    }
}

/// A time as milliseconds since the epoch, the queue's order.
fn millis(time: DateTime<Utc>) -> u64 {
    u64::try_from(time.timestamp_millis()).unwrap_or(0)
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn unavailable(error: sled::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

#[cfg(test)]
mod tests;
