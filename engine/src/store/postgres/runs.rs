//! Runs, their events and step records, the queue, step state and the call
//! journal, in PostgreSQL.
//!
//! A run is a row of `gust_runs` (its record as JSON, with the columns the
//! queue, listings and dedupe read: `due_at` is set while it is
//! unfinished, `failed_open` while it is on the failed list); its steps
//! are rows of `gust_steps`. Dedupe keys are a unique index per lane.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;
use tokio_postgres::types::{Json, ToSql};

use super::listing::Listing;
use super::{PostgresStore, Statements, db_error, from_json, json, run_id, uuid};
use crate::model::{
    InstallationId, JournalEntry, RunId, RunRecord, RunStatus, StateWrite, StepRecord, StepStatus,
};
use crate::store::{
    Accepted, JournalStore, JournalWrite, NewRun, QueuedRun, RunDetail, RunPage, RunQuery, Sharing,
    StateStore, Store, StoreError, Transition,
};

/// How many finished runs one pruning statement removes.
const PRUNE_BATCH: i64 = 1000;

/// The queue's due time of `run`: set while it is unfinished.
fn due(run: &RunRecord) -> Option<DateTime<Utc>> {
    (!run.status.is_final()).then(|| run.due_at.unwrap_or(run.created_at))
}

/// Whether `run` is on the failed list.
fn failed_open(run: &RunRecord) -> bool {
    run.status == RunStatus::Failed && run.replayed_by.is_none()
}

/// The columns of `gust_runs` that follow from a run's record.
pub(super) struct RunColumns<'a> {
    pub(super) id: uuid::Uuid,
    pub(super) status: &'static str,
    pub(super) failed_open: bool,
    pub(super) due_at: Option<DateTime<Utc>>,
    pub(super) record: Json<&'a RunRecord>,
}

impl<'a> RunColumns<'a> {
    pub(super) fn of(run: &'a RunRecord) -> Self {
        Self {
            id: uuid(run.id),
            status: run.status.as_str(),
            failed_open: failed_open(run),
            due_at: due(run),
            record: json(run),
        }
    }

    /// The parameters `$1` to `$5`: id, status, failed_open, due_at, record.
    fn params(&self) -> [&(dyn ToSql + Sync); 5] {
        [
            &self.id,
            &self.status,
            &self.failed_open,
            &self.due_at,
            &self.record,
        ]
    }
}

/// Makes the transaction's commit return before its WAL is flushed: for
/// writes the caller does not wait to be durable.
async fn lazy_commit(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.batch_execute("SET LOCAL synchronous_commit TO OFF")
        .await
        .map_err(db_error)
}

/// Applies step and trigger state writes inside `tx`.
async fn apply_state(tx: &Transaction<'_>, writes: &[StateWrite]) -> Result<(), StoreError> {
    for write in writes {
        match &write.value {
            Some(value) => {
                tx.exec(
                    "INSERT INTO gust_state (scope, key, value) VALUES ($1, $2, $3) \
                     ON CONFLICT (scope, key) DO UPDATE SET value = EXCLUDED.value",
                    &[&write.scope, &write.key, value],
                )
                .await?
            }
            None => {
                tx.exec(
                    "DELETE FROM gust_state WHERE scope = $1 AND key = $2",
                    &[&write.scope, &write.key],
                )
                .await?
            }
        };
    }
    Ok(())
}

/// Stores `run`, held by `node` at epoch 1, unless its lane holds its
/// dedupe key; what it did.
async fn insert_run(
    tx: &Transaction<'_>,
    run: &NewRun,
    node: uuid::Uuid,
) -> Result<Accepted, StoreError> {
    let record = &run.record;
    let lane = record.lane();
    let inserted = tx
        .row_opt(
            "INSERT INTO gust_runs (id, workflow, lane, tenant, installation, status, failed_open, \
             due_at, created_at, dedupe_key, record, event, owner, epoch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1) \
             ON CONFLICT (lane, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id",
            &[
                &uuid(record.id),
                &record.workflow,
                &lane,
                &record.tenant,
                &record.installation.as_ref().map(InstallationId::as_str),
                &record.status.as_str(),
                &failed_open(record),
                &due(record),
                &record.created_at,
                &record.dedupe_key,
                &json(record),
                &json(&run.event),
                &node,
            ],
        )
        .await?;
    if inserted.is_some() {
        return Ok(Accepted::New(record.clone()));
    }
    let earlier = tx
        .row_one(
            "SELECT record FROM gust_runs WHERE lane = $1 AND dedupe_key = $2",
            &[&lane, &record.dedupe_key],
        )
        .await?;
    Ok(Accepted::Duplicate(from_json(earlier.get(0), "run")?))
}

/// The statement that writes a run for a node holding it, returning the
/// epoch it holds it at now (see [`write_held`]): `$1`..`$5` are
/// [`RunColumns::params`], `$6` the node, `$7` the epoch it holds the run
/// at (0: holds it not), `$8` the lease in seconds.
macro_rules! update_held_run {
    () => {
        "UPDATE gust_runs r SET status = $2, failed_open = $3, due_at = $4, record = $5, \
           owner = $6, \
           epoch = CASE WHEN r.owner = $6 AND r.epoch = $7 THEN r.epoch ELSE r.epoch + 1 END \
         WHERE r.id = $1 AND ((r.owner = $6 AND r.epoch = $7) OR ($7 = 0 AND ( \
           r.due_at IS NULL OR NOT EXISTS ( \
             SELECT 1 FROM gust_nodes n WHERE n.id = r.owner \
             AND n.heartbeat_at > now() - make_interval(secs => $8))))) \
         RETURNING r.epoch"
    };
}

/// A transition in one statement, committed by itself: the run written as
/// by [`update_held_run!`], then its step (`$9` position, `$10` record;
/// none when null), with `synchronous_commit` set to `$11` for this
/// statement's own transaction.
const TRANSITION_AT_ONCE: &str = concat!(
    "WITH commit AS (SELECT set_config('synchronous_commit', $11, true)), run AS (",
    update_held_run!(),
    "), step AS (INSERT INTO gust_steps (run_id, position, record) \
     SELECT $1, $9::integer, $10::json FROM run WHERE $9::integer IS NOT NULL \
     ON CONFLICT (run_id, position) DO UPDATE SET record = EXCLUDED.record) \
     SELECT run.epoch FROM run, commit"
);

/// Writes `run` for `node`, which holds it at `epoch` (0: holds it not): a
/// run it holds at that epoch, or one no live node holds (a finished run
/// resumed, a run whose node's lease lapsed), taken over. The epoch the
/// node holds it at now.
async fn write_held(
    tx: &Transaction<'_>,
    run: &RunRecord,
    node: uuid::Uuid,
    epoch: i64,
    lease_seconds: f64,
) -> Result<i64, StoreError> {
    let written = tx
        .row_opt(
            update_held_run!(),
            &[
                RunColumns::of(run).params().as_slice(),
                &[&node, &epoch, &lease_seconds],
            ]
            .concat(),
        )
        .await?;
    match written {
        Some(row) => Ok(row.get(0)),
        None => Err(refusal(tx, run.id).await),
    }
}

/// Why a write of run `id` for the node holding it wrote nothing: another
/// node took the run over, or it is not stored.
async fn refusal(client: &impl GenericClient, id: RunId) -> StoreError {
    match client
        .row_opt("SELECT 1 FROM gust_runs WHERE id = $1", &[&uuid(id)])
        .await
    {
        Ok(Some(_)) => StoreError::TakenOver(id),
        Ok(None) => StoreError::Corrupt(format!("the run {id} is not stored")),
        Err(error) => error,
    }
}

/// Whether `transition` writes more than its run and its step (a journal
/// to forget, replays to mark, state), and so needs a transaction.
fn needs_transaction(transition: &Transition) -> bool {
    let run = &transition.run;
    let forgets_journal = transition
        .step
        .as_ref()
        .is_some_and(|(_, step)| ended_with_calls(step));
    let ends_replay = run.replay_of.is_some()
        && run.status == RunStatus::Succeeded
        && transition.previous.0 != RunStatus::Succeeded;
    forgets_journal || ends_replay || !transition.state_writes.is_empty()
}

/// Whether `step` ended well after calling Salesforce: it never runs
/// again, so its journal (of the calls its attempts name) is done.
fn ended_with_calls(step: &StepRecord) -> bool {
    let called = step
        .attempts
        .iter()
        .any(|attempt| !attempt.calls.is_empty());
    called && matches!(step.status, StepStatus::Succeeded | StepStatus::Stopped)
}

/// Writes `run`'s record and the columns that follow from it, whoever
/// holds it (a finished run a replay marks).
async fn update_run(tx: &Transaction<'_>, run: &RunRecord) -> Result<(), StoreError> {
    let updated = tx
        .exec(
            "UPDATE gust_runs SET status = $2, failed_open = $3, due_at = $4, record = $5 \
             WHERE id = $1",
            &RunColumns::of(run).params(),
        )
        .await?;
    if updated == 0 {
        return Err(StoreError::Corrupt(format!(
            "the run {} is not stored",
            run.id
        )));
    }
    Ok(())
}

/// Marks the failed runs `replay` goes back to (through earlier failed
/// replays) as replayed by it, which takes them off the failed list.
async fn mark_replayed(tx: &Transaction<'_>, replay: &RunRecord) -> Result<(), StoreError> {
    let mut next = replay.replay_of;
    while let Some(id) = next {
        let Some(row) = tx
            .row_opt(
                "SELECT record FROM gust_runs WHERE id = $1 FOR UPDATE",
                &[&uuid(id)],
            )
            .await?
        else {
            break;
        };
        let mut original: RunRecord = from_json(row.get(0), "run")?;
        if original.status != RunStatus::Failed || original.replayed_by.is_some() {
            break;
        }
        original.replayed_by = Some(replay.id);
        update_run(tx, &original).await?;
        next = original.replay_of;
    }
    Ok(())
}

/// A queue row as the queue entry it is.
fn queued_run(row: &tokio_postgres::Row) -> QueuedRun {
    let installation: Option<String> = row.get(2);
    QueuedRun {
        id: run_id(row.get(0)),
        workflow: row.get(1),
        installation: installation.as_deref().and_then(InstallationId::parse),
        due_at: row.get(3),
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn accept(&self, run: &NewRun) -> Result<Accepted, StoreError> {
        let mut accepted = self.accept_all(std::slice::from_ref(run), &[]).await?;
        accepted
            .pop()
            .ok_or_else(|| StoreError::Unavailable("nothing was accepted".to_owned()))
    }

    /// Runs without state writes are stored with the acceptances running
    /// beside them, one commit for all (`postgres/group_commit.rs`); with
    /// state writes (a trigger's cursor), in a transaction of their own
    /// that checks the trigger's lease.
    async fn accept_all(
        &self,
        runs: &[NewRun],
        state: &[StateWrite],
    ) -> Result<Vec<Accepted>, StoreError> {
        match (runs, state) {
            ([], []) => return Ok(Vec::new()),
            (runs, []) => return self.group_commit().accept(runs.to_vec()).await,
            _ => {}
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let mut accepted = Vec::with_capacity(runs.len());
        self.check_leases(&tx, state).await?;
        for run in runs {
            accepted.push(insert_run(&tx, run, self.node).await?);
        }
        apply_state(&tx, state).await?;
        tx.commit().await.map_err(db_error)?;
        self.committed();
        let mut held = self.held();
        for accepted in &accepted {
            if let Accepted::New(run) = accepted {
                held.insert(run.id, 1);
            }
        }
        Ok(accepted)
    }

    async fn transition(&self, transition: Transition, durable: bool) -> Result<(), StoreError> {
        let run = &transition.run;
        let holding = self.held().get(&run.id).copied().unwrap_or(0);
        let epoch = match needs_transaction(&transition) {
            false => {
                self.transition_at_once(&transition, holding, durable)
                    .await?
            }
            true => {
                self.transition_in_transaction(&transition, holding, durable)
                    .await?
            }
        };
        if durable {
            self.committed();
        }
        let mut held = self.held();
        match run.status.is_final() {
            true => held.remove(&run.id),
            false => held.insert(run.id, epoch),
        };
        Ok(())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        // Every durable write was committed with `synchronous_commit` on.
        Ok(())
    }

    async fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .row_opt("SELECT record FROM gust_runs WHERE id = $1", &[&uuid(id)])
            .await?;
        row.map(|row| from_json(row.get(0), "run")).transpose()
    }

    async fn detail(&self, id: RunId) -> Result<Option<RunDetail>, StoreError> {
        let client = self.client().await?;
        let Some(row) = client
            .row_opt(
                "SELECT record, event FROM gust_runs WHERE id = $1",
                &[&uuid(id)],
            )
            .await?
        else {
            return Ok(None);
        };
        let run: RunRecord = from_json(row.get(0), "run")?;
        let Json(event): Json<Value> = row.get(1);
        let steps = client
            .rows(
                "SELECT record FROM gust_steps WHERE run_id = $1 ORDER BY position",
                &[&uuid(id)],
            )
            .await?
            .into_iter()
            .map(|row| from_json::<StepRecord>(row.get(0), "step"))
            .collect::<Result<_, _>>()?;
        Ok(Some(RunDetail { run, event, steps }))
    }

    /// Every unfinished run, whichever node holds it.
    async fn queued(&self) -> Result<Vec<QueuedRun>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .rows(
                "SELECT id, workflow, installation, due_at FROM gust_runs \
                 WHERE due_at IS NOT NULL ORDER BY due_at, id",
                &[],
            )
            .await?;
        Ok(rows.iter().map(queued_run).collect())
    }

    /// This node's unfinished runs (others take over the runs of nodes
    /// gone, see [`Store::take_over`]).
    async fn due_first(&self, limit: usize) -> Result<Vec<QueuedRun>, StoreError> {
        let client = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .rows(
                "SELECT id, workflow, installation, due_at, epoch FROM gust_runs \
                 WHERE owner = $1 AND due_at IS NOT NULL ORDER BY due_at, id LIMIT $2",
                &[&self.node, &limit],
            )
            .await?;
        let mut held = self.held();
        for row in &rows {
            held.insert(run_id(row.get(0)), row.get(4));
        }
        Ok(rows.iter().map(queued_run).collect())
    }

    /// This node's unfinished runs, counted.
    async fn unfinished(&self) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let row = client
            .row_one(
                "SELECT count(*) FROM gust_runs WHERE owner = $1 AND due_at IS NOT NULL",
                &[&self.node],
            )
            .await?;
        Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    async fn list(&self, query: &RunQuery) -> Result<RunPage, StoreError> {
        self.page(query, Listing::ByStatus).await
    }

    /// Read by one query.
    async fn unfinished_runs(&self, query: &RunQuery) -> Result<RunPage, StoreError> {
        self.page(query, Listing::Unfinished).await
    }

    fn flushes(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn sharing(&self) -> Option<Sharing> {
        Some(PostgresStore::sharing(self))
    }

    async fn take_over(&self, limit: usize) -> Result<Vec<QueuedRun>, StoreError> {
        self.claim(limit).await
    }

    async fn release(&self) -> Result<usize, StoreError> {
        self.leave().await
    }

    async fn hold_trigger(&self, scope: &str) -> Result<bool, StoreError> {
        self.hold(scope).await
    }

    async fn prune(
        &self,
        before: DateTime<Utc>,
        deduplicated_before: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let mut pruned = 0;
        // Short statements, each its own transaction: never a long one.
        loop {
            let removed = client
                .exec(
                    "DELETE FROM gust_runs WHERE id IN ( \
                       SELECT id FROM gust_runs WHERE created_at < $1 AND due_at IS NULL \
                       AND (dedupe_key IS NULL OR created_at < $2) LIMIT $3)",
                    &[&before, &deduplicated_before, &PRUNE_BATCH],
                )
                .await?;
            pruned += removed as usize;
            if removed < PRUNE_BATCH as u64 {
                return Ok(pruned);
            }
        }
    }
}

#[async_trait]
impl JournalStore for PostgresStore {
    async fn journal(&self, run: RunId, step: &str) -> Result<Vec<JournalEntry>, StoreError> {
        let client = self.client().await?;
        client
            .rows(
                "SELECT entry FROM gust_journal WHERE run_id = $1 AND step = $2 ORDER BY sequence",
                &[&uuid(run), &step],
            )
            .await?
            .into_iter()
            .map(|row| from_json(row.get(0), "journal entry"))
            .collect()
    }

    async fn record(&self, write: JournalWrite<'_>, durable: bool) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if !durable {
            lazy_commit(&tx).await?;
        }
        // Only the node holding the run records its calls: one that lost it
        // sends nothing more.
        let epoch = self.held().get(&write.run).copied().unwrap_or(0);
        let holds = tx
            .row_opt(
                "SELECT 1 FROM gust_runs WHERE id = $1 AND owner = $2 AND epoch = $3 FOR SHARE",
                &[&uuid(write.run), &self.node, &epoch],
            )
            .await?;
        if holds.is_none() {
            return Err(StoreError::TakenOver(write.run));
        }
        let sequence = write.entry.call.sequence as i32;
        tx.exec(
            "INSERT INTO gust_journal (run_id, step, sequence, entry) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (run_id, step, sequence) DO UPDATE SET entry = EXCLUDED.entry",
            &[&uuid(write.run), &write.step, &sequence, &json(write.entry)],
        )
        .await?;
        if !write.forget.is_empty() {
            tx.exec(
                "DELETE FROM gust_journal WHERE run_id = $1 AND step = $2 \
                 AND sequence >= $3 AND sequence < $4",
                &[
                    &uuid(write.run),
                    &write.step,
                    &(write.forget.start as i32),
                    &(write.forget.end as i32),
                ],
            )
            .await?;
        }
        tx.commit().await.map_err(db_error)?;
        if durable {
            self.committed();
        }
        Ok(())
    }

    async fn run_journal(&self, run: RunId) -> Result<Vec<(String, JournalEntry)>, StoreError> {
        self.all_journal(run).await
    }
}

impl PostgresStore {
    /// Applies a transition of a run and its step alone with one
    /// statement: one round trip; the epoch this node holds the run at now.
    async fn transition_at_once(
        &self,
        transition: &Transition,
        holding: i64,
        durable: bool,
    ) -> Result<i64, StoreError> {
        let run = &transition.run;
        let (position, step) = match &transition.step {
            Some((position, step)) => (Some(*position as i32), Some(json(step))),
            None => (None, None),
        };
        let synchronous = if durable { "on" } else { "off" };
        let client = self.client().await?;
        let written = client
            .row_opt(
                TRANSITION_AT_ONCE,
                &[
                    RunColumns::of(run).params().as_slice(),
                    &[
                        &self.node,
                        &holding,
                        &self.lease_seconds(),
                        &position,
                        &step,
                        &synchronous,
                    ],
                ]
                .concat(),
            )
            .await?;
        match written {
            Some(row) => Ok(row.get(0)),
            None => Err(refusal(&client, run.id).await),
        }
    }

    /// Applies a transition that writes more than its run and step (see
    /// [`needs_transaction`]) in a transaction; the epoch this node holds
    /// the run at now.
    async fn transition_in_transaction(
        &self,
        transition: &Transition,
        holding: i64,
        durable: bool,
    ) -> Result<i64, StoreError> {
        let run = &transition.run;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if !durable {
            lazy_commit(&tx).await?;
        }
        let epoch = write_held(&tx, run, self.node, holding, self.lease_seconds()).await?;
        if let Some((position, step)) = &transition.step {
            tx.exec(
                "INSERT INTO gust_steps (run_id, position, record) VALUES ($1, $2, $3) \
                 ON CONFLICT (run_id, position) DO UPDATE SET record = EXCLUDED.record",
                &[&uuid(run.id), &(*position as i32), &json(step)],
            )
            .await?;
            if ended_with_calls(step) {
                tx.exec(
                    "DELETE FROM gust_journal WHERE run_id = $1 AND step = $2",
                    &[&uuid(run.id), &step.step],
                )
                .await?;
            }
        }
        if run.status == RunStatus::Succeeded && transition.previous.0 != RunStatus::Succeeded {
            mark_replayed(&tx, run).await?;
        }
        apply_state(&tx, &transition.state_writes).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(epoch)
    }

    /// Every journal entry of run `run`, with its step.
    pub(super) async fn all_journal(
        &self,
        run: RunId,
    ) -> Result<Vec<(String, JournalEntry)>, StoreError> {
        let client = self.client().await?;
        client
            .rows(
                "SELECT step, entry FROM gust_journal WHERE run_id = $1 ORDER BY step, sequence",
                &[&uuid(run)],
            )
            .await?
            .into_iter()
            .map(|row| Ok((row.get(0), from_json(row.get(1), "journal entry")?)))
            .collect()
    }
}

#[async_trait]
impl StateStore for PostgresStore {
    async fn get(&self, scope: &str, key: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .row_opt(
                "SELECT value FROM gust_state WHERE scope = $1 AND key = $2",
                &[&scope, &key],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        self.check_leases(&tx, writes).await?;
        apply_state(&tx, writes).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn state_entries(&self) -> Result<Vec<StateWrite>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .rows(
                "SELECT scope, key, value FROM gust_state ORDER BY scope, key",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| StateWrite {
                scope: row.get(0),
                key: row.get(1),
                value: Some(row.get(2)),
            })
            .collect())
    }
}
