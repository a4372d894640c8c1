//! The embedded store: one sled tree (see [`super::keys`]) and a group
//! commit.
//!
//! sled's flush writes its log and syncs it with `sync_file_range`: an
//! acknowledged write survives the process being killed, not a power cut.

use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::group_commit::GroupCommit;
use super::{
    Accepted, NewRun, QueuedRun, RunId, RunPage, RunQuery, Store, StoreError, Transition, keys,
};
use crate::runner::StepReport;
use crate::runtime::RunRecord;
use crate::state::{StateError, StateStore, StateWrite};

/// The sled store.
pub struct SledStore {
    db: sled::Db,
    commit: GroupCommit,
    /// Held from the dedupe check to the write, so two events with one key
    /// cannot both be stored.
    dedupe: Mutex<()>,
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
        let commit = GroupCommit::start({
            let db = db.clone();
            move || db.flush().map(drop).map_err(|error| error.to_string())
        });
        Ok(Self {
            db,
            commit,
            dedupe: Mutex::new(()),
        })
    }

    async fn durable(&self) -> Result<(), StoreError> {
        self.commit.durable().await.map_err(StoreError::Unavailable)
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.db
            .get(key)
            .map_err(unavailable)?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    fn batch_remove_run(&self, batch: &mut sled::Batch, run: &RunRecord) -> Result<(), StoreError> {
        batch.remove(keys::run(run.id));
        batch.remove(keys::event(run.id));
        for entry in self.db.scan_prefix(keys::steps(run.id)).keys() {
            batch.remove(entry.map_err(unavailable)?);
        }
        batch.remove(keys::by_workflow(&run.workflow, run.id));
        batch.remove(keys::by_status(run.status, run.id));
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
        self.commit.close();
        if let Err(error) = self.db.flush() {
            tracing::error!(%error, "Flushing the store on close failed.");
        }
    }
}

#[async_trait]
impl Store for SledStore {
    async fn accept(&self, run: NewRun) -> Result<Accepted, StoreError> {
        let record = run.record;
        let mut batch = sled::Batch::default();
        batch.insert(keys::run(record.id), encode(&record)?);
        batch.insert(keys::event(record.id), encode(&run.event)?);
        batch.insert(keys::by_workflow(&record.workflow, record.id), &[]);
        batch.insert(keys::by_status(record.status, record.id), &[]);
        if let Some(due) = record.due_at {
            batch.insert(
                keys::queued(millis(due), record.id),
                record.workflow.as_bytes(),
            );
        }
        match &record.dedupe_key {
            Some(dedupe_key) => {
                let dedupe = keys::dedupe(&record.workflow, dedupe_key);
                let _guard = self.dedupe.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(existing) = self.db.get(&dedupe).map_err(unavailable)? {
                    let id = RunId::from_slice(&existing)
                        .ok_or_else(|| StoreError::Corrupt("a dedupe entry".to_owned()))?;
                    drop(_guard);
                    // The first event may not be durable yet.
                    self.durable().await?;
                    let run = self.run(id)?.ok_or_else(|| {
                        StoreError::Corrupt(format!("the dedupe entry names a missing run {id}"))
                    })?;
                    return Ok(Accepted::Duplicate(run));
                }
                batch.insert(dedupe, record.id.as_bytes());
                self.db.apply_batch(batch).map_err(unavailable)?;
            }
            None => self.db.apply_batch(batch).map_err(unavailable)?,
        }
        self.durable().await?;
        Ok(Accepted::New(record))
    }

    async fn transition(&self, transition: Transition, durable: bool) -> Result<(), StoreError> {
        let run = &transition.run;
        let previous: Option<RunRecord> = self.get(&keys::run(run.id))?;
        let mut batch = sled::Batch::default();
        if let Some(previous) = &previous {
            if previous.status != run.status {
                batch.remove(keys::by_status(previous.status, run.id));
            }
            if let Some(due) = previous.due_at
                && previous.due_at != run.due_at
            {
                batch.remove(keys::queued(millis(due), run.id));
            }
        }
        batch.insert(keys::by_status(run.status, run.id), &[]);
        if let Some(due) = run.due_at {
            batch.insert(keys::queued(millis(due), run.id), run.workflow.as_bytes());
        }
        batch.insert(keys::run(run.id), encode(run)?);
        if let Some((index, step)) = &transition.step {
            batch.insert(keys::step(run.id, *index), encode(step)?);
        }
        add_state_writes(&mut batch, &transition.state_writes);
        self.db.apply_batch(batch).map_err(unavailable)?;
        if durable {
            self.durable().await?;
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.durable().await
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
            (None, Some(status)) => (keys::status_runs(status), true),
            (None, None) => (keys::runs(), false),
        };
        let end = match query.before {
            Some(before) => [prefix.as_slice(), before.as_bytes()].concat(),
            None => keys::prefix_end(&prefix),
        };
        let mut runs: Vec<RunRecord> = Vec::new();
        let mut next_cursor = None;
        for entry in self.db.range(prefix..end).rev() {
            let (key, value) = entry.map_err(unavailable)?;
            let run = if is_index {
                let id = keys::trailing_run_id(&key).ok_or_else(|| {
                    StoreError::Corrupt("an index key holds no run id".to_owned())
                })?;
                match self.run(id)? {
                    Some(run) => run,
                    None => continue,
                }
            } else {
                decode(&value)?
            };
            if query.status.is_some_and(|status| status != run.status) {
                continue;
            }
            if runs.len() == query.limit {
                next_cursor = runs.last().map(|last| last.id);
                break;
            }
            runs.push(run);
        }
        Ok(RunPage { runs, next_cursor })
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
            let mut batch = sled::Batch::default();
            self.batch_remove_run(&mut batch, &run)?;
            self.db.apply_batch(batch).map_err(unavailable)?;
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
        let mut batch = sled::Batch::default();
        add_state_writes(&mut batch, writes);
        self.db
            .apply_batch(batch)
            .map_err(|error| StateError(error.to_string()))
    }
}

fn add_state_writes(batch: &mut sled::Batch, writes: &[StateWrite]) {
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
