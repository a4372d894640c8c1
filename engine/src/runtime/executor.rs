//! Runs stored runs to completion, one step attempt at a time, writing each
//! attempt's record, the run's new status and the attempt's state writes in
//! one atomic batch, durable before the next step starts (after the last
//! step, before anyone is told the run ended). A run picked up after a
//! crash starts at its first unfinished step; a step whose end was made
//! durable never runs again.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::backlog::Backlog;
use super::dispatch::{DispatchQueue, Lane, Limits, Ticket};
use super::feed::RunFeed;
use super::fresh::FreshRuns;
use super::installations::{ConnectionSource, Installations, Tenancy};
use super::intake::{SubmitError, to_the_end};
use super::steps::{JournalScope, Next, PreparedWorkflow, StepRunner, settle};
use super::walk::{Ending, Position, Walk};
use super::watchers::Watchers;
use super::workflows::{StoredVersion, Workflows};
use crate::metrics::Metrics;
use crate::model::{
    InstallationId, RunId, RunRecord, RunStatus, StateWrite, StepRecord, StepStatus, now,
};
use crate::store::{Store, StoreError, Transition};

/// How long a run whose turn the store could not take waits to try again.
const RETRY_UNAVAILABLE: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// A step record and its position among the run's records.
type StepWrite = (usize, StepRecord);

/// The executor and what it shares with the triggers and the admin API.
pub(crate) struct Executor {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) runner: StepRunner,
    pub(crate) workflows: Workflows,
    pub(crate) queue: DispatchQueue,
    pub(crate) watchers: Watchers,
    pub(crate) metrics: Metrics,
    /// The most runs running at once.
    pub(crate) workers: usize,
    /// The most runs of one workflow running at once, unless it says.
    pub(crate) default_concurrency: usize,
    /// Runs just accepted, with their events, so that their first turn
    /// need not read them back.
    pub(crate) fresh: FreshRuns,
    /// Held while a failed run is resumed, so that it is resumed once.
    pub(crate) resuming: tokio::sync::Mutex<()>,
    /// Runs accepted and not finished, under `max_backlog`.
    pub(crate) backlog: Backlog,
    /// Set when the store holds unfinished runs the dispatch queue has not
    /// taken in (it holds at most a backlog's worth); they are read when
    /// it runs low.
    pub(crate) left_in_store: std::sync::atomic::AtomicBool,
    /// The installations runs are for.
    pub(crate) installations: Installations,
    /// Where installations' runs reach Salesforce.
    pub(crate) connections: Option<Arc<dyn ConnectionSource>>,
    /// Each change of a run, for whoever follows.
    pub(crate) feed: RunFeed,
}

/// How far one turn of a run got.
enum Turn {
    /// The run ended.
    Ended(Box<RunRecord>),
    /// A step's next attempt is due then.
    Retry(DateTime<Utc>),
    /// Its workflow is not loaded; the run waits in the store.
    Parked,
    /// It had already ended.
    Stale,
}

impl Executor {
    /// Queues the runs the store holds unfinished, soonest due first, up
    /// to a backlog's worth in memory: at start-up, after a reload for runs
    /// whose workflow was missing, and when the queue runs low while the
    /// store holds more.
    pub(crate) async fn resume_queued(&self) -> Result<usize, StoreError> {
        let window = self.backlog.bound();
        let queued = self.store.due_first(window).await?;
        self.left_in_store
            .store(queued.len() >= window, Ordering::Relaxed);
        let workflows = self.workflows.get();
        let mut resumed = 0;
        for run in queued {
            if workflows.ready.contains_key(&run.workflow) {
                let lane = Lane {
                    workflow: run.workflow,
                    installation: run.installation,
                };
                self.queue.enqueue(run.id, lane, run.due_at);
                resumed += 1;
            }
        }
        Ok(resumed)
    }

    /// [`Executor::resume_queued`], saying what it did.
    pub(crate) async fn queue_stored_runs(&self) {
        match self.resume_queued().await {
            Ok(0) => {}
            Ok(resumed) => tracing::info!(resumed, "Queued the stored unfinished runs."),
            Err(error) => tracing::error!(%error, "Cannot read the stored queue."),
        }
    }

    /// Takes in more of the store's unfinished runs when the queue has run
    /// low and the store holds runs it has not taken in.
    async fn refill(&self) {
        // The flag first: the dispatch loop asks at every turn, and the
        // store rarely holds runs the queue has not taken in.
        if !self.left_in_store.load(Ordering::Relaxed)
            || self.queue.counts().0 > self.backlog.bound() / 2
        {
            return;
        }
        if let Err(error) = self.resume_queued().await {
            tracing::error!(%error, "The stored runs could not be read; they wait for the next start.");
            self.left_in_store.store(false, Ordering::Relaxed);
        }
    }

    /// Starts runs as workers free up until `stop` is cancelled; `abort`
    /// cuts off the runs still in flight.
    pub(crate) async fn dispatch(
        self: Arc<Self>,
        tracker: TaskTracker,
        stop: CancellationToken,
        abort: CancellationToken,
    ) {
        let sharing = self.store.sharing();
        let mut take_over_at = tokio::time::Instant::now();
        loop {
            if let Some(sharing) = &sharing
                && tokio::time::Instant::now() >= take_over_at
            {
                self.take_over().await;
                take_over_at = tokio::time::Instant::now() + sharing.every;
            }
            self.refill().await;
            while let Some(ticket) = self
                .queue
                .take(self.workers, |workflow| self.limits(workflow))
            {
                let executor = self.clone();
                let abort = abort.clone();
                tracker.spawn(async move {
                    let retry = tokio::select! {
                        () = abort.cancelled() => None,
                        retry = executor.turn(&ticket) => retry,
                    };
                    executor.queue.done(&ticket);
                    if let Some(due) = retry {
                        executor.queue.enqueue(ticket.run, ticket.lane.clone(), due);
                    }
                });
            }
            let mut wait = self
                .queue
                .next_due()
                .map(|due| (due - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(3600));
            if sharing.is_some() {
                wait = wait.min(take_over_at - tokio::time::Instant::now());
            }
            let released = async {
                match &sharing {
                    Some(sharing) => sharing.released.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.queue.changed.notified() => {}
                () = tokio::time::sleep(wait) => {}
                () = released => take_over_at = tokio::time::Instant::now(),
            }
        }
    }

    /// Takes over runs of the shared store that no live node holds, as many
    /// as half the backlog's bound leaves room for.
    async fn take_over(&self) {
        let room = (self.backlog.bound() / 2).saturating_sub(self.queue.counts().0);
        match self.store.take_over(room).await {
            Ok(runs) if runs.is_empty() => {}
            Ok(runs) => {
                tracing::info!(runs = runs.len(), "Took over runs no live node holds.");
                self.backlog.add_stored(runs.len());
                for run in runs {
                    let lane = Lane {
                        workflow: run.workflow,
                        installation: run.installation,
                    };
                    self.queue.enqueue(run.id, lane, run.due_at);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "Could not look for runs to take over; looking again soon.");
            }
        }
    }

    /// The limits of `workflow`: its `concurrency` (the server's default
    /// when it sets none), and per installation its
    /// `installation_concurrency`, by default half the workflow's (at
    /// least one), so no one installation takes the whole share.
    fn limits(&self, workflow: &str) -> Limits {
        let definition = self.workflows.ready(workflow).map(|p| p.workflow);
        let workflow_limit = definition
            .as_ref()
            .and_then(|workflow| workflow.concurrency)
            .map_or(self.default_concurrency, |limit| limit as usize);
        let installation = definition
            .as_ref()
            .and_then(|workflow| workflow.installation_concurrency)
            .map_or((workflow_limit / 2).max(1), |limit| limit as usize);
        Limits {
            workflow: workflow_limit,
            installation,
        }
    }

    /// What a run of installation `id` runs with, or why it cannot run.
    async fn tenancy(&self, id: &InstallationId) -> Result<Tenancy, String> {
        let installation = self
            .installations
            .get(id)
            .ok_or_else(|| format!("installation {id} was deleted"))?;
        let connections = self
            .connections
            .as_deref()
            .ok_or_else(|| "this server has no connections".to_owned())?;
        Tenancy::of(installation, connections).await
    }

    /// The version `version` of `loaded`'s workflow: `loaded` itself, one
    /// kept since it was loaded, or the definition the store kept for the
    /// installations pinned to it.
    pub(crate) async fn pinned(
        &self,
        loaded: PreparedWorkflow,
        version: &str,
    ) -> Result<PreparedWorkflow, String> {
        if *loaded.version == *version {
            return Ok(loaded);
        }
        if let Some(kept) = self.workflows.version(version) {
            return Ok(kept);
        }
        let unknown = || {
            format!(
                "version {version} of workflow `{}` is no longer known; upgrade the installation",
                loaded.workflow.id
            )
        };
        let text = self
            .store
            .workflow_version(version)
            .await
            .map_err(|error| error.to_string())?
            .ok_or_else(unknown)?;
        let file = StoredVersion::read(&text).map_err(|error| format!("{}: {error}", unknown()))?;
        let prepared = self
            .runner
            .prepare(&file)
            .map_err(|errors| format!("{}: {errors}", unknown()))?;
        self.workflows.keep_version(prepared.clone());
        Ok(prepared)
    }

    /// Advances one run; returns when its next attempt is due, if it waits
    /// for one.
    async fn turn(self: &Arc<Self>, ticket: &Ticket) -> Option<DateTime<Utc>> {
        match self.advance(ticket.run).await {
            Ok(Turn::Ended(run)) => {
                self.backlog.finished();
                // The end is applied and the worker moves on; those waiting
                // for the run hear of it once it is durable.
                let executor = self.clone();
                tokio::spawn(async move {
                    match executor.store.flush().await {
                        Ok(()) => {
                            executor.metrics.run_finished(&run.workflow, run.status);
                            executor.watchers.ended(&run);
                        }
                        Err(error) => {
                            tracing::error!(run = %run.id, %error, "The end of a run could not be made durable.");
                        }
                    }
                });
                None
            }
            Ok(Turn::Retry(due)) => Some(due),
            Ok(Turn::Stale) => None,
            Ok(Turn::Parked) => {
                tracing::warn!(run = %ticket.run, workflow = %ticket.lane.workflow, "The run's workflow is not loaded; it waits for a reload.");
                None
            }
            Err(StoreError::TakenOver(run)) => {
                // Another node runs it now; this one wrote nothing of it.
                tracing::warn!(%run, "The run was taken over by another node (this one was stopped past its lease); leaving it to that node.");
                self.backlog.finished();
                None
            }
            Err(error) if error.is_retryable() => {
                // The store is unavailable: the run waits in memory and tries again.
                tracing::error!(run = %ticket.run, %error, "The run could not be advanced; trying again in {RETRY_UNAVAILABLE:?}.");
                Some(Utc::now() + RETRY_UNAVAILABLE)
            }
            Err(error) => {
                // The run stays in the store's queue and resumes on the next start.
                tracing::error!(run = %ticket.run, %error, "The run could not be advanced.");
                None
            }
        }
    }

    /// Takes failed run `id` back to the queue at its failed step, which
    /// runs again with a fresh retry budget and the step's call journal:
    /// calls that succeeded are answered from it, nothing is written twice.
    /// Like intake, it runs to its end even when the caller stops waiting.
    pub(crate) async fn resume(self: &Arc<Self>, id: RunId) -> Result<RunRecord, SubmitError> {
        to_the_end(
            self,
            |executor| async move { executor.resume_now(id).await },
        )
        .await
    }

    async fn resume_now(&self, id: RunId) -> Result<RunRecord, SubmitError> {
        let _resuming = self.resuming.lock().await;
        let detail = self
            .store
            .detail(id)
            .await?
            .ok_or(SubmitError::UnknownRun(id))?;
        let refuse = |reason: &str| SubmitError::NotResumable {
            run: id,
            reason: reason.to_owned(),
        };
        let mut run = detail.run;
        if run.status != RunStatus::Failed {
            return Err(refuse(&format!(
                "it is {}; only a failed run is resumed",
                run.status.as_str()
            )));
        }
        if self.workflows.ready(&run.workflow).is_none() {
            return Err(SubmitError::UnknownWorkflow(run.workflow));
        }
        let failed = detail
            .steps
            .iter()
            .rposition(|step| step.status == StepStatus::Failed && !step.attempts.is_empty());
        let Some(slot) = failed else {
            return Err(refuse(
                "its step failed before its first attempt (its input could not be resolved); replay it as a new run instead",
            ));
        };
        let admission = self.backlog.admit(1)?;
        let mut step = detail.steps[slot].clone();
        step.resume();
        let at = now();
        run.status = RunStatus::Queued;
        run.error = None;
        run.finished_at = None;
        run.due_at = Some(at);
        run.updated_at = at;
        let transition = Transition {
            previous: (RunStatus::Failed, None),
            run: run.clone(),
            step: Some((slot, step)),
            state_writes: Vec::new(),
        };
        self.store.transition(transition, true).await?;
        admission.keep(1);
        self.queue.enqueue(run.id, Lane::of(&run), at);
        self.feed.publish(&run);
        Ok(run)
    }

    /// Runs `id` from its first unfinished step until it ends or waits.
    async fn advance(&self, id: RunId) -> Result<Turn, StoreError> {
        let (mut run, event, mut records, fresh) = match self.fresh.take(id) {
            Some((run, event)) => (run, event, Vec::new(), true),
            None => {
                let Some(detail) = self.store.detail(id).await? else {
                    return Err(StoreError::Corrupt(format!(
                        "the queued run {id} has no record"
                    )));
                };
                (detail.run, detail.event, detail.steps, false)
            }
        };
        let scope = JournalScope { id, fresh };
        if run.status.is_final() {
            // Queued again as it ended (a reload read the store just before).
            return Ok(Turn::Stale);
        }
        // Running is the dispatch queue's to say; in the store a run between
        // attempts is queued.
        let loaded = stored(&run);
        run.status = RunStatus::Queued;
        let Some(prepared) = self.workflows.ready(&run.workflow) else {
            // Given a new due time, it waits in the store's queue.
            let parked = now();
            run.due_at = Some(match run.due_at {
                Some(due) if due >= parked => due + TimeDelta::milliseconds(1),
                _ => parked,
            });
            run.updated_at = parked;
            self.commit(loaded, &run, None, Vec::new(), false).await?;
            return Ok(Turn::Parked);
        };
        self.publish(&run);
        let tenancy = match &run.installation {
            Some(id) => match self.tenancy(id).await {
                Ok(tenancy) => Some(tenancy),
                Err(error) => return self.end_failed(loaded, run, error, None).await,
            },
            None => None,
        };
        let prepared = match &tenancy {
            Some(tenancy) => {
                let version = &tenancy.installation.record.workflow_version;
                match self.pinned(prepared, version).await {
                    Ok(prepared) => prepared,
                    Err(error) => return self.end_failed(loaded, run, error, None).await,
                }
            }
            None => prepared,
        };
        let installed = tenancy.as_ref().map(|t| &t.installation.installed);
        let mut walk = Walk::new(&prepared, &event, installed);
        // The step just attempted (its place among `records`) and its state
        // writes, not yet written: they are written before the next step
        // starts, or with the run's end.
        let mut pending: Option<(usize, Vec<StateWrite>)> = None;
        loop {
            match walk.next(&records) {
                Position::Attempt {
                    index,
                    slot,
                    record,
                } => {
                    self.commit_pending(loaded, &mut run, &records, pending.take())
                        .await?;
                    let (record, next, writes) = self
                        .attempt(scope, tenancy.as_ref(), &prepared, index, record)
                        .await;
                    if let Next::Retry(delay) = next {
                        let due = now() + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX);
                        run.status = RunStatus::Retrying;
                        run.due_at = Some(due);
                        run.updated_at = now();
                        self.commit(loaded, &run, Some((slot, record)), writes, true)
                            .await?;
                        return Ok(Turn::Retry(due));
                    }
                    if slot == records.len() {
                        records.push(record);
                    } else {
                        records[slot] = record;
                    }
                    pending = Some((slot, writes));
                }
                Position::Ended(Ending::Succeeded { output, stopped_by }) => {
                    let step = take_pending(&mut records, pending);
                    return self
                        .end_succeeded(loaded, run, output, stopped_by, step)
                        .await;
                }
                Position::Ended(Ending::Failed {
                    error,
                    unresolvable,
                }) => {
                    let step = match unresolvable {
                        Some(record) => {
                            self.commit_pending(loaded, &mut run, &records, pending)
                                .await?;
                            Some(((records.len(), record), Vec::new()))
                        }
                        None => take_pending(&mut records, pending),
                    };
                    return self.end_failed(loaded, run, error, step).await;
                }
            }
        }
    }

    /// Writes the step just attempted, durably, before the run goes on.
    async fn commit_pending(
        &self,
        loaded: (RunStatus, Option<DateTime<Utc>>),
        run: &mut RunRecord,
        records: &[StepRecord],
        pending: Option<(usize, Vec<StateWrite>)>,
    ) -> Result<(), StoreError> {
        let Some((slot, writes)) = pending else {
            return Ok(());
        };
        run.updated_at = now();
        let step = (slot, records[slot].clone());
        self.commit(loaded, run, Some(step), writes, true).await
    }

    /// Makes the next attempt at step `index`.
    async fn attempt(
        &self,
        run: JournalScope,
        tenancy: Option<&Tenancy>,
        prepared: &PreparedWorkflow,
        index: usize,
        mut record: StepRecord,
    ) -> (StepRecord, Next, Vec<StateWrite>) {
        let step = &prepared.workflow.steps[index];
        let mut outcome = self
            .runner
            .attempt(run, tenancy, prepared, index, &record)
            .await;
        let writes = std::mem::take(&mut outcome.state_writes);
        let seconds = outcome.attempt.duration.as_secs_f64();
        let next = settle(&mut record, outcome, &step.retry);
        self.metrics.step_attempt(
            prepared.workflow.id.as_str(),
            step.id.as_str(),
            seconds,
            matches!(next, Next::Retry(_)),
        );
        (record, next, writes)
    }

    async fn end_succeeded(
        &self,
        loaded: (RunStatus, Option<DateTime<Utc>>),
        mut run: RunRecord,
        output: Value,
        stopped_by: Option<String>,
        step: Option<(StepWrite, Vec<StateWrite>)>,
    ) -> Result<Turn, StoreError> {
        run.status = RunStatus::Succeeded;
        run.output = Some(output);
        run.stopped_by = stopped_by;
        self.end(loaded, run, step).await
    }

    async fn end_failed(
        &self,
        loaded: (RunStatus, Option<DateTime<Utc>>),
        mut run: RunRecord,
        error: String,
        step: Option<(StepWrite, Vec<StateWrite>)>,
    ) -> Result<Turn, StoreError> {
        run.status = RunStatus::Failed;
        run.error = Some(error);
        self.end(loaded, run, step).await
    }

    async fn end(
        &self,
        loaded: (RunStatus, Option<DateTime<Utc>>),
        mut run: RunRecord,
        step: Option<(StepWrite, Vec<StateWrite>)>,
    ) -> Result<Turn, StoreError> {
        let at = now();
        run.updated_at = at;
        run.finished_at = Some(at);
        run.due_at = None;
        let (step, writes) = step.map_or((None, Vec::new()), |(step, writes)| (Some(step), writes));
        // Nothing runs after the last step, so the worker need not wait for
        // the flush (see `turn`).
        self.commit(loaded, &run, step, writes, false).await?;
        Ok(Turn::Ended(Box::new(run)))
    }

    async fn commit(
        &self,
        previous: (RunStatus, Option<DateTime<Utc>>),
        run: &RunRecord,
        step: Option<StepWrite>,
        state_writes: Vec<StateWrite>,
        durable: bool,
    ) -> Result<(), StoreError> {
        let transition = Transition {
            previous,
            run: run.clone(),
            step,
            state_writes,
        };
        self.store.transition(transition, durable).await?;
        self.publish(run);
        Ok(())
    }

    /// Tells the feed's followers of `run` as stored, running if a worker
    /// has it.
    pub(crate) fn publish(&self, run: &RunRecord) {
        if !run.status.is_final() && self.queue.is_running(run.id) {
            let mut running = run.clone();
            running.status = RunStatus::Running;
            self.feed.publish(&running);
        } else {
            self.feed.publish(run);
        }
    }
}

/// The step just attempted, taken out of `records` to be written with the
/// run's end (nothing reads the records after).
fn take_pending(
    records: &mut Vec<StepRecord>,
    pending: Option<(usize, Vec<StateWrite>)>,
) -> Option<(StepWrite, Vec<StateWrite>)> {
    pending.map(|(slot, writes)| ((slot, records.swap_remove(slot)), writes))
}

/// What the store holds of a run's status and due time.
fn stored(run: &RunRecord) -> (RunStatus, Option<DateTime<Utc>>) {
    (run.status, run.due_at)
}
