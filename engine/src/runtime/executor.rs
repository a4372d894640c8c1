//! Runs stored runs to completion, one step attempt at a time, writing each
//! attempt's record, the run's new status and the attempt's state writes in
//! one atomic batch, durable before the next step starts (after the last
//! step, before anyone is told the run ended). A run picked up after a
//! crash starts at its first unfinished step; a step whose end was made
//! durable never runs again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::scheduler::{Scheduler, Ticket};
use super::watchers::Watchers;
use super::workflows::Workflows;
use super::{RunId, RunRecord, RunStatus, now};
use crate::metrics::Metrics;
use crate::runner::{Next, PreparedWorkflow, Runner, StepReport, StepStatus};
use crate::state::StateWrite;
use crate::store::{Store, StoreError, Transition};

/// A step record and its position among the run's records.
type StepWrite = (usize, StepReport);

/// The executor and what it shares with the triggers and the admin API.
pub(crate) struct Executor {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) runner: Runner,
    pub(crate) workflows: Workflows,
    pub(crate) scheduler: Scheduler,
    pub(crate) watchers: Watchers,
    pub(crate) metrics: Metrics,
    /// The most runs running at once.
    pub(crate) workers: usize,
    /// The most runs of one workflow running at once, unless it says.
    pub(crate) default_concurrency: usize,
    /// Runs just accepted, with their events, so that their first turn
    /// need not read them back.
    pub(crate) fresh: FreshRuns,
}

/// Runs just accepted and not yet picked up, up to a bound; a run not kept
/// here is read from the store.
#[derive(Default)]
pub(crate) struct FreshRuns {
    runs: std::sync::Mutex<HashMap<RunId, (RunRecord, Value)>>,
}

impl FreshRuns {
    /// The most runs kept.
    const CAPACITY: usize = 4_096;

    /// Keeps a run just stored, if there is room.
    pub(crate) fn keep(&self, run: &RunRecord, event: Value) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        if runs.len() < Self::CAPACITY {
            runs.insert(run.id, (run.clone(), event));
        }
    }

    fn take(&self, id: RunId) -> Option<(RunRecord, Value)> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
    }
}

/// How far one turn of a run got.
enum Turn {
    /// The run ended.
    Ended(Box<RunRecord>),
    /// A step's next attempt is due then.
    Retry(DateTime<Utc>),
    /// Its workflow is not loaded; the run waits in the store.
    Parked,
}

impl Executor {
    /// Queues every run the store holds unfinished: at start-up, and after a
    /// reload for runs whose workflow was missing.
    pub(crate) fn resume_queued(&self) -> Result<usize, StoreError> {
        let queued = self.store.queued()?;
        let workflows = self.workflows.get();
        let mut resumed = 0;
        for run in queued {
            if workflows.ready.contains_key(&run.workflow) {
                self.scheduler.enqueue(run.id, &run.workflow, run.due_at);
                resumed += 1;
            }
        }
        Ok(resumed)
    }

    /// Starts runs as workers free up until `stop` is cancelled; `abort`
    /// cuts off the runs still in flight.
    pub(crate) async fn dispatch(
        self: Arc<Self>,
        tracker: TaskTracker,
        stop: CancellationToken,
        abort: CancellationToken,
    ) {
        loop {
            while let Some(ticket) = self
                .scheduler
                .take(self.workers, |workflow| self.limit(workflow))
            {
                let executor = self.clone();
                let abort = abort.clone();
                tracker.spawn(async move {
                    let retry = tokio::select! {
                        () = abort.cancelled() => None,
                        retry = executor.turn(&ticket) => retry,
                    };
                    executor.scheduler.done(&ticket);
                    if let Some(due) = retry {
                        executor
                            .scheduler
                            .enqueue(ticket.run, &ticket.workflow, due);
                    }
                });
            }
            let wait = self
                .scheduler
                .next_due()
                .map(|due| (due - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.scheduler.changed.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn limit(&self, workflow: &str) -> usize {
        self.workflows
            .ready(workflow)
            .and_then(|prepared| prepared.workflow.concurrency)
            .map_or(self.default_concurrency, |limit| limit as usize)
    }

    /// Advances one run; returns when its next attempt is due, if it waits
    /// for one.
    async fn turn(self: &Arc<Self>, ticket: &Ticket) -> Option<DateTime<Utc>> {
        match self.advance(ticket.run).await {
            Ok(Turn::Ended(run)) => {
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
            Ok(Turn::Parked) => {
                tracing::warn!(run = %ticket.run, workflow = %ticket.workflow, "The run's workflow is not loaded; it waits for a reload.");
                None
            }
            Err(error) => {
                // The run stays in the store's queue and resumes on the next start.
                tracing::error!(run = %ticket.run, %error, "The run could not be advanced.");
                None
            }
        }
    }

    /// Runs `id` from its first unfinished step until it ends or waits.
    async fn advance(&self, id: RunId) -> Result<Turn, StoreError> {
        let (mut run, event, mut records) = match self.fresh.take(id) {
            Some((run, event)) => (run, event, Vec::new()),
            None => {
                let Some(detail) = self.store.detail(id)? else {
                    return Err(StoreError::Corrupt(format!(
                        "the queued run {id} has no record"
                    )));
                };
                (detail.run, detail.event, detail.steps)
            }
        };
        if run.status.is_final() {
            return Ok(Turn::Ended(Box::new(run)));
        }
        // Running is the scheduler's to say; in the store a run between
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

        let mut outputs: HashMap<String, Value> = HashMap::new();
        let mut previous = event.clone();
        for (index, step) in prepared.workflow.steps.iter().enumerate() {
            let position = records
                .iter()
                .position(|record| record.step == step.id.as_str());
            let report = match position.map(|at| &records[at]) {
                Some(record) if record.status.is_final() => {
                    let output = record.output.clone().unwrap_or(Value::Null);
                    match record.status {
                        StepStatus::Succeeded => {
                            outputs.insert(step.id.to_string(), output.clone());
                            previous = output;
                            continue;
                        }
                        StepStatus::Stopped => {
                            return self
                                .end_succeeded(loaded, run, output, Some(record.step.clone()), None)
                                .await;
                        }
                        _ => {
                            let error = failure_summary(record);
                            return self.end_failed(loaded, run, error, None).await;
                        }
                    }
                }
                Some(record) => record.clone(),
                None => match Runner::step_input(&prepared, index, &event, &outputs, &previous) {
                    Ok(input) => StepReport::start(step.id.as_str(), input),
                    Err(error) => {
                        let report = StepReport::unresolvable(step.id.as_str(), error);
                        let error = failure_summary(&report);
                        let step = Some(((records.len(), report), Vec::new()));
                        return self.end_failed(loaded, run, error, step).await;
                    }
                },
            };
            let slot = position.unwrap_or(records.len());
            let (report, next, writes) = self.attempt(&prepared, index, report).await;
            let is_last = index + 1 == prepared.workflow.steps.len();
            match next {
                Next::Continue if !is_last => {
                    let output = report.output.clone().unwrap_or(Value::Null);
                    run.updated_at = now();
                    self.commit(loaded, &run, Some((slot, report.clone())), writes, true)
                        .await?;
                    if slot == records.len() {
                        records.push(report);
                    } else {
                        records[slot] = report;
                    }
                    outputs.insert(step.id.to_string(), output.clone());
                    previous = output;
                }
                Next::Continue | Next::Stop => {
                    let output = report.output.clone().unwrap_or(Value::Null);
                    let stopped_by = (next == Next::Stop).then(|| step.id.to_string());
                    let step_write = Some(((slot, report), writes));
                    return self
                        .end_succeeded(loaded, run, output, stopped_by, step_write)
                        .await;
                }
                Next::Retry(delay) => {
                    let due = now() + TimeDelta::from_std(delay).unwrap_or(TimeDelta::MAX);
                    run.status = RunStatus::Retrying;
                    run.due_at = Some(due);
                    run.updated_at = now();
                    self.commit(loaded, &run, Some((slot, report)), writes, true)
                        .await?;
                    return Ok(Turn::Retry(due));
                }
                Next::Fail => {
                    let error = failure_summary(&report);
                    return self
                        .end_failed(loaded, run, error, Some(((slot, report), writes)))
                        .await;
                }
            }
        }
        // Every step had already finished: only the run's end was lost.
        self.end_succeeded(loaded, run, previous, None, None).await
    }

    /// Makes the next attempt at step `index`.
    async fn attempt(
        &self,
        prepared: &PreparedWorkflow,
        index: usize,
        mut report: StepReport,
    ) -> (StepReport, Next, Vec<StateWrite>) {
        let step = &prepared.workflow.steps[index];
        let number = report.attempts.len() as u32 + 1;
        let mut outcome = self
            .runner
            .attempt(prepared, index, &report.input, number)
            .await;
        let writes = std::mem::take(&mut outcome.state_writes);
        let seconds = outcome.attempt.duration.as_secs_f64();
        let next = report.settle(outcome, &step.retry);
        self.metrics.step_attempt(
            prepared.workflow.id.as_str(),
            step.id.as_str(),
            seconds,
            matches!(next, Next::Retry(_)),
        );
        (report, next, writes)
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
        self.store.transition(transition, durable).await
    }
}

/// What the store holds of a run's status and due time.
fn stored(run: &RunRecord) -> (RunStatus, Option<DateTime<Utc>>) {
    (run.status, run.due_at)
}

fn failure_summary(report: &StepReport) -> String {
    let message = report
        .error
        .as_ref()
        .map_or("failed", |error| error.message.as_str());
    format!("step `{}` failed: {message}", report.step)
}
