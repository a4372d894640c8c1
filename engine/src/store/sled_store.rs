//! The embedded store: one sled tree (see [`super::keys`]), read directly
//! and written through the group-commit [`Writer`], each run one value
//! (see [`super::document`]).
//!
//! sled's flush writes its log and syncs it with `sync_file_range`: an
//! acknowledged write survives the process being killed, not a power cut.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::document::{self, Document};
use super::journal::{JournalStore, JournalWrite};
use super::open_runs::OpenRuns;
use super::writer::{Batch, Part, Writer};
use super::{
    Accepted, NewRun, QueuedRun, RunDetail, RunId, RunPage, RunQuery, Store, StoreError,
    Transition, keys,
};
use crate::model::{JournalEntry, RunRecord, RunStatus, StateWrite, StepStatus, split_lane};
use crate::store::StateStore;

/// The page cache of a store opened without saying: 32 MiB.
pub const DEFAULT_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// How long opening a store waits for its file lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The sled store.
pub struct SledStore {
    db: sled::Db,
    /// Connections and what goes with them (`sled_store/connections.rs`).
    connections: sled::Tree,
    /// Installations and workflow versions (`sled_store/installations.rs`).
    installations: sled::Tree,
    writer: Writer,
    open: Mutex<OpenRuns>,
}

impl SledStore {
    /// Opens (or creates) the store in `dir`. Only one process may have it
    /// open; a store closed a moment ago (sled's background flusher lets go
    /// of its file lock shortly after the store is dropped) is waited for
    /// up to two seconds.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// [`SledStore::open`] with a page cache of `cache_bytes` (sled counts
    /// its pages' sizes, not every byte they hold in memory).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput);
        let started = std::time::Instant::now();
        let db = loop {
            match config.open() {
                // sled 0.34 reports the lock held as an `Other` I/O error
                // with this message.
                Err(sled::Error::Io(error))
                    if error.to_string().starts_with("could not acquire lock")
                        && started.elapsed() < LOCK_WAIT =>
                {
                    std::thread::sleep(LOCK_WAIT / 20);
                }
                opened => {
                    break opened.map_err(|error| {
                        StoreError::Unavailable(format!(
                            "cannot open the store in {}: {error} (is another Gust using it?)",
                            dir.display()
                        ))
                    })?;
                }
            }
        };
        let open = Mutex::new(open_runs(&db)?);
        let writer = Writer::start(db.clone());
        let connections = connections::open_tree(&db)?;
        let installations = installations::open_tree(&db)?;
        Ok(Self {
            db,
            connections,
            installations,
            writer,
            open,
        })
    }

    fn open_runs(&self) -> MutexGuard<'_, OpenRuns> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `batch` through the writer; `Some(value)` when the key
    /// `unless_exists` was already stored and nothing was written.
    async fn write(
        &self,
        batch: Batch,
        unless_exists: Option<Vec<u8>>,
        durable: bool,
    ) -> Result<Option<sled::IVec>, StoreError> {
        self.writer.write(batch, unless_exists, durable).await
    }

    /// The write that accepts `run`: its record, its event in the
    /// workflow's index, its queue entry (unless it is open) and its dedupe
    /// key.
    fn accept_part(&self, run: &NewRun) -> Result<Part, StoreError> {
        let record = &run.record;
        let mut batch = Batch::default();
        batch.insert(keys::run(record.id), document::new_run(record)?);
        batch.insert(
            keys::by_workflow(&record.workflow, record.id),
            document::encode(&run.event)?,
        );
        if !self.open_runs().open(record.id) {
            let due = record.due_at.unwrap_or(record.created_at);
            batch.insert(
                keys::queued(millis(due), record.id),
                record.lane().as_bytes(),
            );
        }
        if let Some(installation) = &record.installation {
            batch.insert(
                keys::by_installation(record.id),
                installation.as_str().as_bytes(),
            );
        }
        let unless_exists = record
            .dedupe_key
            .as_ref()
            .map(|dedupe_key| keys::dedupe(&record.lane(), dedupe_key));
        if let Some(dedupe) = &unless_exists {
            batch.insert(dedupe.clone(), record.id.as_bytes());
        }
        Ok(Part {
            batch,
            unless_exists,
        })
    }

    /// Reads a part of run `id`'s stored value.
    fn read_run<T>(
        &self,
        id: RunId,
        part: impl FnOnce(&Document<'_>) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let Some(value) = self.db.get(keys::run(id)).map_err(unavailable)? else {
            return Ok(None);
        };
        part(&Document::parse(id, &value)?).map(Some)
    }

    /// Marks the failed runs `replay` goes back to as replayed by it and
    /// takes them off the failed list.
    fn mark_replayed(&self, batch: &mut Batch, replay: &RunRecord) -> Result<(), StoreError> {
        let mut next = replay.replay_of;
        while let Some(id) = next {
            let Some(value) = self.db.get(keys::run(id)).map_err(unavailable)? else {
                break;
            };
            let document = Document::parse(id, &value)?;
            let mut original = document.record()?;
            if original.status != RunStatus::Failed || original.replayed_by.is_some() {
                break;
            }
            original.replayed_by = Some(replay.id);
            batch.insert(keys::run(id), document.with(&original, None)?);
            batch.remove(keys::failed(id));
            next = original.replay_of;
        }
        Ok(())
    }
}

/// Adds the removal of every key of `db` under `prefix` to `batch`.
fn remove_prefix(db: &sled::Db, batch: &mut Batch, prefix: Vec<u8>) -> Result<(), StoreError> {
    for key in db.scan_prefix(prefix).keys() {
        batch.remove(key.map_err(unavailable)?.to_vec());
    }
    Ok(())
}

/// Adds the removal of `run` and everything of it in `db` to `batch`.
fn batch_remove_run(db: &sled::Db, batch: &mut Batch, run: &RunRecord) -> Result<(), StoreError> {
    remove_prefix(db, batch, keys::run_journals(run.id))?;
    batch.remove(keys::run(run.id));
    batch.remove(keys::by_workflow(&run.workflow, run.id));
    batch.remove(keys::failed(run.id));
    if let Some(due) = run.due_at {
        batch.remove(keys::queued(millis(due), run.id));
    }
    if run.installation.is_some() {
        batch.remove(keys::by_installation(run.id));
    }
    if let Some(key) = &run.dedupe_key {
        batch.remove(keys::dedupe(&run.lane(), key));
    }
    Ok(())
}

/// Removes the finished runs of `db` created before `before` (keeping
/// those whose dedupe key is younger than `deduplicated_before`): a scan,
/// run on a blocking thread.
fn prune(
    db: &sled::Db,
    before: DateTime<Utc>,
    deduplicated_before: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut pruned = 0;
    for entry in db.scan_prefix(keys::runs()) {
        let (key, value) = entry.map_err(unavailable)?;
        let run = stored_record(&key, &value)?;
        if run.created_at >= before {
            break;
        }
        let keeps_dedupe_key = run.dedupe_key.is_some() && run.created_at >= deduplicated_before;
        if !run.status.is_final() || keeps_dedupe_key {
            continue;
        }
        let mut batch = Batch::default();
        batch_remove_run(db, &mut batch, &run)?;
        batch.apply_to(db).map_err(unavailable)?;
        pruned += 1;
    }
    Ok(pruned)
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
        let mut accepted = self.accept_all(std::slice::from_ref(run), &[]).await?;
        accepted
            .pop()
            .ok_or_else(|| StoreError::Unavailable("the writer answered nothing".to_owned()))
    }

    async fn accept_all(
        &self,
        runs: &[NewRun],
        state: &[StateWrite],
    ) -> Result<Vec<Accepted>, StoreError> {
        let parts: Result<Vec<Part>, StoreError> =
            runs.iter().map(|run| self.accept_part(run)).collect();
        let written = match parts {
            Ok(mut parts) => {
                let mut batch = Batch::default();
                add_state_writes(&mut batch, state);
                parts.push(Part {
                    batch,
                    unless_exists: None,
                });
                self.writer.write_parts(parts, true).await
            }
            Err(error) => Err(error),
        };
        let outcomes = match written {
            Ok(mut outcomes) if outcomes.len() == runs.len() + 1 => {
                outcomes.pop();
                outcomes
            }
            other => {
                // Nothing was stored.
                let mut open = self.open_runs();
                for run in runs {
                    open.close(run.record.id);
                }
                return Err(other.err().unwrap_or_else(|| {
                    StoreError::Unavailable("the writer answered part of a write".to_owned())
                }));
            }
        };
        let mut accepted = Vec::with_capacity(runs.len());
        for (run, outcome) in runs.iter().zip(outcomes) {
            let Some(existing) = outcome else {
                accepted.push(Accepted::New(run.record.clone()));
                continue;
            };
            self.open_runs().close(run.record.id);
            let id = RunId::from_slice(&existing)
                .ok_or_else(|| StoreError::Corrupt("a dedupe entry".to_owned()))?;
            let earlier = self.run(id).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("the dedupe entry names a missing run {id}"))
            })?;
            accepted.push(Accepted::Duplicate(earlier));
        }
        Ok(accepted)
    }

    async fn transition(&self, transition: Transition, durable: bool) -> Result<(), StoreError> {
        let run = &transition.run;
        let (previous_status, previous_due) = transition.previous;
        // The run's previous write was applied before this one was asked
        // for (its owner waits for each), so this reads it.
        let value = self.db.get(keys::run(run.id)).map_err(unavailable)?;
        let value = value
            .ok_or_else(|| StoreError::Corrupt(format!("the run {} is not stored", run.id)))?;
        let step = transition.step.as_ref().map(|(index, step)| (*index, step));
        let mut batch = Batch::default();
        batch.insert(
            keys::run(run.id),
            Document::parse(run.id, &value)?.with(run, step)?,
        );
        // A step that ended well never runs again: its journal is done. Its
        // entries are those its attempts' calls name, read from the record
        // rather than the store. (One an attempt cut off by a crash left
        // past them goes with the run.)
        if let Some((_, step)) = step
            && matches!(step.status, StepStatus::Succeeded | StepStatus::Stopped)
        {
            let calls = step.attempts.iter().flat_map(|attempt| &attempt.calls);
            let last = calls.map(|call| call.sequence).max().unwrap_or(0);
            for sequence in 1..=last {
                batch.remove(keys::journal_entry(run.id, &step.step, sequence));
            }
        }
        // A failed run changes again when a replay of it succeeds (see
        // `mark_replayed`) or it is resumed.
        if run.status == RunStatus::Failed && previous_status != RunStatus::Failed {
            batch.insert(keys::failed(run.id), []);
        }
        if previous_status == RunStatus::Failed && run.status != RunStatus::Failed {
            batch.remove(keys::failed(run.id));
        }
        if run.status == RunStatus::Succeeded && previous_status != RunStatus::Succeeded {
            self.mark_replayed(&mut batch, run)?;
        }
        // An open run leaves the open set when it ends or is given a time.
        let closes = run.status.is_final() || previous_due != run.due_at;
        let was_open = closes && {
            let mut open = self.open_runs();
            let was_open = open.is_open(run.id);
            if let Some(mark) = was_open.then(|| open.advance(run.id)).flatten() {
                batch.insert(keys::mark(), mark.as_bytes());
            }
            was_open
        };
        if closes {
            if let Some(due) = previous_due.filter(|_| !was_open) {
                batch.remove(keys::queued(millis(due), run.id));
            }
            if let Some(due) = run.due_at.filter(|_| !run.status.is_final()) {
                batch.insert(keys::queued(millis(due), run.id), run.lane().as_bytes());
            }
        }
        add_state_writes(&mut batch, &transition.state_writes);
        self.write(batch, None, durable).await?;
        if was_open {
            self.open_runs().close(run.id);
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.write(Batch::default(), None, true).await.map(drop)
    }

    async fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        self.read_run(id, |run| run.record())
    }

    async fn detail(&self, id: RunId) -> Result<Option<RunDetail>, StoreError> {
        let parts = self.read_run(id, |run| Ok((run.record()?, run.steps()?)))?;
        let Some((run, steps)) = parts else {
            return Ok(None);
        };
        let event = self.db.get(keys::by_workflow(&run.workflow, id));
        let event = event
            .map_err(unavailable)?
            .map(|event| document::decode(&event))
            .transpose()?
            .unwrap_or(Value::Null);
        Ok(Some(RunDetail { run, event, steps }))
    }

    async fn queued(&self) -> Result<Vec<QueuedRun>, StoreError> {
        self.due_first(usize::MAX).await
    }

    async fn due_first(&self, limit: usize) -> Result<Vec<QueuedRun>, StoreError> {
        // The queue is in due order and open runs are due when created, in
        // id order: the first `limit` of each hold the first `limit` of all.
        let mut queued = queue_entries(&self.db, limit)?;
        let open = self.open_runs().first(limit);
        for id in open {
            let Some(run) = self.run(id).await? else {
                continue;
            };
            if !run.status.is_final() {
                queued.push(QueuedRun {
                    due_at: run.due_at.unwrap_or(run.created_at),
                    id,
                    workflow: run.workflow,
                    installation: run.installation,
                });
            }
        }
        queued.sort_by_key(|run| run.due_at);
        queued.truncate(limit);
        Ok(queued)
    }

    async fn unfinished(&self) -> Result<usize, StoreError> {
        let mut entries = 0;
        for key in self.db.scan_prefix(keys::queue()).keys() {
            key.map_err(unavailable)?;
            entries += 1;
        }
        Ok(entries + self.open_runs().len())
    }

    async fn list(&self, query: &RunQuery) -> Result<RunPage, StoreError> {
        // An index entry of another installation is passed over unread.
        let only = query
            .installation
            .as_ref()
            .map(|installation| installation.as_str().as_bytes());
        let (prefix, is_index) = match (only, &query.workflow, query.status) {
            (Some(_), _, _) => (keys::installation_runs(), true),
            (None, Some(workflow), _) => (keys::workflow_runs(workflow), true),
            (None, None, Some(RunStatus::Failed)) => (keys::failed_runs(), true),
            _ => (keys::runs(), false),
        };
        let end = match query.before {
            Some(before) => [prefix.as_slice(), before.as_bytes()].concat(),
            None => keys::prefix_end(&prefix),
        };
        if query.excludes_all() {
            return RunPage::gather([], query, |_| Ok(true));
        }
        let start = match query.after {
            Some(after) => [prefix.as_slice(), after.as_bytes()].concat(),
            None => prefix.clone(),
        };
        let runs = self.db.range(start..end).rev().filter_map(|entry| {
            let (key, value) = match entry {
                Ok(entry) => entry,
                Err(error) => return Some(Err(unavailable(error))),
            };
            if !is_index {
                return Some(stored_record(&key, &value));
            }
            if only.is_some_and(|installation| value.as_ref() != installation) {
                return None;
            }
            match keys::trailing_run_id(&key) {
                Some(id) => self.read_run(id, |run| run.record()).transpose(),
                None => Some(Err(StoreError::Corrupt(
                    "an index key holds no run id".to_owned(),
                ))),
            }
        });
        let search = query.event_contains.as_ref();
        RunPage::gather(runs, query, |run| {
            let event = self
                .db
                .get(keys::by_workflow(&run.workflow, run.id))
                .map_err(unavailable)?;
            Ok(event.is_some_and(|event| search.is_some_and(|search| search.matches(&event))))
        })
    }

    fn flushes(&self) -> u64 {
        self.writer.flushes()
    }

    async fn prune(
        &self,
        before: DateTime<Utc>,
        deduplicated_before: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || prune(&db, before, deduplicated_before))
            .await
            .map_err(|error| StoreError::Unavailable(format!("pruning stopped: {error}")))?
    }
}

#[async_trait]
impl JournalStore for SledStore {
    async fn journal(&self, run: RunId, step: &str) -> Result<Vec<JournalEntry>, StoreError> {
        self.db
            .scan_prefix(keys::step_journal(run, step))
            .values()
            .map(|value| document::decode(&value.map_err(unavailable)?))
            .collect()
    }

    async fn record(&self, write: JournalWrite<'_>, durable: bool) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        let sequence = write.entry.call.sequence;
        batch.insert(
            keys::journal_entry(write.run, write.step, sequence),
            document::encode(write.entry)?,
        );
        for stale in write.forget {
            batch.remove(keys::journal_entry(write.run, write.step, stale));
        }
        self.write(batch, None, durable).await.map(drop)
    }

    async fn run_journal(&self, run: RunId) -> Result<Vec<(String, JournalEntry)>, StoreError> {
        self.db
            .scan_prefix(keys::run_journals(run))
            .map(|entry| {
                let (key, value) = entry.map_err(unavailable)?;
                let step = keys::journal_step(run, &key)
                    .ok_or_else(|| StoreError::Corrupt("a journal key".to_owned()))?;
                Ok((step, document::decode(&value)?))
            })
            .collect()
    }
}

#[async_trait]
impl StateStore for SledStore {
    async fn get(&self, scope: &str, key: &str) -> Result<Option<String>, StoreError> {
        let value = self.db.get(keys::state(scope, key)).map_err(unavailable)?;
        value
            .map(|bytes| String::from_utf8(bytes.to_vec()))
            .transpose()
            .map_err(|_| StoreError::Corrupt(format!("the value of `{key}` is not UTF-8")))
    }

    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        add_state_writes(&mut batch, writes);
        batch.apply_to(&self.db).map_err(unavailable)
    }

    async fn state_entries(&self) -> Result<Vec<StateWrite>, StoreError> {
        self.db
            .scan_prefix(keys::states())
            .map(|entry| {
                let (key, value) = entry.map_err(unavailable)?;
                let corrupt = || StoreError::Corrupt("a state entry".to_owned());
                let (scope, key) = keys::split_state(&key).ok_or_else(corrupt)?;
                let value = String::from_utf8(value.to_vec()).map_err(|_| corrupt())?;
                Ok(StateWrite {
                    scope,
                    key,
                    value: Some(value),
                })
            })
            .collect()
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
/// The record of the run stored as `value` under `key`.
fn stored_record(key: &[u8], value: &[u8]) -> Result<RunRecord, StoreError> {
    let id = keys::trailing_run_id(key)
        .ok_or_else(|| StoreError::Corrupt("a run key holds no run id".to_owned()))?;
    Document::parse(id, value)?.record()
}

fn millis(time: DateTime<Utc>) -> u64 {
    u64::try_from(time.timestamp_millis()).unwrap_or(0)
}

/// The first `limit` entries of the queue, soonest due first.
fn queue_entries(db: &sled::Db, limit: usize) -> Result<Vec<QueuedRun>, StoreError> {
    db.scan_prefix(keys::queue())
        .take(limit)
        .map(|entry| {
            let (key, lane) = entry.map_err(unavailable)?;
            let corrupt = || StoreError::Corrupt("a queue entry".to_owned());
            let due = keys::queued_due(&key).ok_or_else(corrupt)?;
            let lane = std::str::from_utf8(&lane).map_err(|_| corrupt())?;
            let (workflow, installation) = split_lane(lane);
            Ok(QueuedRun {
                id: keys::trailing_run_id(&key).ok_or_else(corrupt)?,
                workflow: workflow.to_owned(),
                installation,
                due_at: DateTime::from_timestamp_millis(due as i64).ok_or_else(corrupt)?,
            })
        })
        .collect()
}

/// The open runs of a store just opened: the unfinished runs from the
/// stored mark on that have no queue entry.
fn open_runs(db: &sled::Db) -> Result<OpenRuns, StoreError> {
    let mark = db.get(keys::mark()).map_err(unavailable)?;
    let mark = mark
        .map(|mark| {
            RunId::from_slice(&mark).ok_or_else(|| StoreError::Corrupt("the mark".to_owned()))
        })
        .transpose()?;
    let queued: HashSet<RunId> = queue_entries(db, usize::MAX)?
        .into_iter()
        .map(|run| run.id)
        .collect();
    let from = mark.map_or_else(keys::runs, keys::run);
    let mut open = Vec::new();
    for entry in db.range(from..keys::prefix_end(&keys::runs())) {
        let (key, value) = entry.map_err(unavailable)?;
        let run = stored_record(&key, &value)?;
        if !run.status.is_final() && !queued.contains(&run.id) {
            open.push(run.id);
        }
    }
    Ok(OpenRuns::new(mark, open))
}

/// A sled failure: the storage is unavailable.
pub(super) fn unavailable(error: sled::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

mod connections;
mod installations;
#[cfg(test)]
mod tests;
