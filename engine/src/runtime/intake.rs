//! Where events come in: each stored durably as a queued run (a trigger's
//! state writes in the same write), then handed to the dispatch queue.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use super::backlog::{ADMISSION_WAIT, Overloaded};
use super::dispatch::Lane;
use super::executor::Executor;
use crate::model::{
    InstallationId, InstallationRecord, InstallationStatus, RunId, RunRecord, StateWrite,
};
use crate::store::{Accepted, NewRun, StoreError};

/// An event to store: its body and the key that dedupes it, if any.
pub type NewEvent = (Value, Option<String>);

/// Whom an event's run is for: a workflow's own runs, or one
/// installation's (its tenant noted on the run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFor {
    /// The workflow.
    pub workflow: String,
    /// The installation and its tenant, for an installation's runs.
    pub installation: Option<(InstallationId, String)>,
}

impl RunFor {
    /// The runs of `workflow` itself.
    pub fn workflow(workflow: &str) -> Self {
        Self {
            workflow: workflow.to_owned(),
            installation: None,
        }
    }

    /// The runs of `installation`.
    pub fn installation(installation: &InstallationRecord) -> Self {
        Self {
            workflow: installation.workflow.clone(),
            installation: Some((installation.id.clone(), installation.tenant.clone())),
        }
    }

    /// A queued run for this, due now.
    fn queued(&self) -> RunRecord {
        let mut record = RunRecord::queued(RunId::new(), &self.workflow);
        if let Some((installation, tenant)) = &self.installation {
            record.installation = Some(installation.clone());
            record.tenant = Some(tenant.clone());
        }
        record
    }
}

/// Why an event was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// No workflow with this id is loaded.
    #[error("no workflow `{0}` is loaded")]
    UnknownWorkflow(String),
    /// No run with this id is stored.
    #[error("no run `{0}` is stored")]
    UnknownRun(RunId),
    /// No installation with this id exists.
    #[error("there is no installation `{0}`")]
    UnknownInstallation(String),
    /// The installation does not take events now (paused, or in error).
    #[error(
        "installation `{installation}` is {status}: nothing was stored; resume it \
         (POST /api/installations/{installation}/resume) and send the event again"
    )]
    InstallationStopped {
        /// The installation.
        installation: InstallationId,
        /// Its status.
        status: &'static str,
    },
    /// The run cannot be resumed (it did not fail, or failed before its
    /// failed step's first attempt).
    #[error("run `{run}` cannot be resumed: {reason}")]
    NotResumable {
        /// The run.
        run: RunId,
        /// Why, and what to do instead.
        reason: String,
    },
    /// The backlog is at its bound; nothing was stored. Send it again in
    /// a moment (webhooks answer 503 with `Retry-After`).
    #[error(transparent)]
    Overloaded(#[from] Overloaded),
    /// The store failed; nothing was accepted.
    #[error("the event could not be stored: {0}")]
    Store(#[from] StoreError),
}

impl Executor {
    /// Stores one run per event of `events` for `workflow` (loaded, the
    /// caller has just checked), with the state writes `state` (a trigger's
    /// cursor), in one durable write, and queues the new runs; answers for
    /// each event in order.
    pub(crate) async fn submit_all(
        self: &Arc<Self>,
        target: &RunFor,
        events: Vec<NewEvent>,
        state: Vec<StateWrite>,
    ) -> Result<Vec<Accepted>, SubmitError> {
        let target = target.clone();
        to_the_end(self, |executor| async move {
            executor.store_all(&target, events, state).await
        })
        .await
    }

    async fn store_all(
        &self,
        target: &RunFor,
        events: Vec<NewEvent>,
        state: Vec<StateWrite>,
    ) -> Result<Vec<Accepted>, SubmitError> {
        if let Some((id, _)) = &target.installation {
            let installation = self
                .installations
                .get(id)
                .ok_or_else(|| SubmitError::UnknownInstallation(id.to_string()))?;
            let status = installation.record.status;
            if status != InstallationStatus::Enabled {
                return Err(SubmitError::InstallationStopped {
                    installation: id.clone(),
                    status: status.as_str(),
                });
            }
        }
        let admission = self
            .backlog
            .admit_within(events.len(), ADMISSION_WAIT)
            .await?;
        let runs: Vec<NewRun> = events
            .into_iter()
            .map(|(event, dedupe_key)| {
                let mut record = target.queued();
                record.dedupe_key = dedupe_key;
                NewRun { record, event }
            })
            .collect();
        let accepted = self.store.accept_all(&runs, &state).await?;
        let new = accepted
            .iter()
            .filter(|accepted| matches!(accepted, Accepted::New(_)))
            .count();
        admission.keep(new);
        for (run, accepted) in runs.into_iter().zip(&accepted) {
            self.queue_accepted(accepted, run.event);
        }
        Ok(accepted)
    }

    /// [`Executor::submit_all`] for one event, without state writes.
    pub(crate) async fn submit_one(
        self: &Arc<Self>,
        target: &RunFor,
        event: NewEvent,
    ) -> Result<Accepted, SubmitError> {
        let mut accepted = self.submit_all(target, vec![event], Vec::new()).await?;
        accepted.pop().ok_or_else(|| {
            SubmitError::Store(StoreError::Unavailable(
                "the store answered nothing".to_owned(),
            ))
        })
    }

    /// Stores one run durably and queues it if new.
    pub(crate) async fn accept(self: &Arc<Self>, run: NewRun) -> Result<Accepted, SubmitError> {
        to_the_end(
            self,
            |executor| async move { executor.store_one(run).await },
        )
        .await
    }

    async fn store_one(&self, run: NewRun) -> Result<Accepted, SubmitError> {
        let admission = self.backlog.admit_within(1, ADMISSION_WAIT).await?;
        let accepted = self.store.accept(&run).await?;
        admission.keep(usize::from(matches!(accepted, Accepted::New(_))));
        self.queue_accepted(&accepted, run.event);
        Ok(accepted)
    }

    /// Counts an event the store answered for and queues its run if new.
    fn queue_accepted(&self, accepted: &Accepted, event: Value) {
        let record = accepted.run();
        let duplicate = matches!(accepted, Accepted::Duplicate(_));
        self.metrics.event_accepted(&record.workflow, duplicate);
        if let (false, Some(due)) = (duplicate, record.due_at) {
            self.fresh.keep(record, event);
            self.queue.enqueue(record.id, Lane::of(record), due);
            self.feed.publish(record);
        }
    }
}

/// Runs `intake` on its own task, so that it runs to its end even when the
/// caller stops waiting (a client that hangs up mid-request): a run the
/// store took is always queued, never left in the store until a restart.
pub(super) async fn to_the_end<T, F>(
    executor: &Arc<Executor>,
    intake: impl FnOnce(Arc<Executor>) -> F,
) -> Result<T, SubmitError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, SubmitError>> + Send + 'static,
{
    tokio::spawn(intake(Arc::clone(executor)))
        .await
        .map_err(|error| {
            SubmitError::Store(StoreError::Unavailable(format!(
                "storing the event stopped: {error}"
            )))
        })?
}
