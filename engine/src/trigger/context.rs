//! What a trigger is handed instead of the engine: a way to submit events
//! (with its own state writes, in one durable write), to read its state,
//! to reach Salesforce and to report its status. [`TriggerHost`] is what
//! the engine provides; [`TriggerContext`] is one background trigger's view
//! of it, scoped to its workflow.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::background::{BackgroundSpec, StatusCell};
use crate::api::TriggerStatus;
use crate::model::{InstallationId, RunId, RunRecord, StateWrite, installation_scope};
use crate::runtime::installations::Installation;
use crate::runtime::{NewEvent, RunFor, SubmitError};
use crate::salesforce::SalesforceService;
use crate::store::{Accepted, StoreError};
use crate::workflow::Workflow;

/// What the engine does for triggers.
#[async_trait]
pub(crate) trait TriggerHost: Send + Sync + 'static {
    /// The loaded workflow `id`, if it is loaded.
    fn workflow(&self, id: &str) -> Option<Arc<Workflow>>;
    /// Installation `id`, if there is one.
    fn installation(&self, id: &InstallationId) -> Option<Arc<Installation>>;
    /// Stores one run per event for `workflow`, with the state writes
    /// `state`, in one durable write, and queues the new runs; answers for
    /// each event in order.
    async fn submit(
        &self,
        target: &RunFor,
        events: Vec<NewEvent>,
        state: Vec<StateWrite>,
    ) -> Result<Vec<Accepted>, SubmitError>;
    /// [`TriggerHost::submit`] for one event, without state writes.
    async fn submit_one(&self, target: &RunFor, event: NewEvent) -> Result<Accepted, SubmitError>;
    /// The value stored under `key` in trigger state `scope` (a workflow's,
    /// or an installation's).
    async fn state(&self, scope: &str, key: &str) -> Result<Option<String>, StoreError>;
    /// Whether this server may run the trigger whose state is kept under
    /// `scope` now (on a store several servers share, one at a time).
    async fn hold_trigger(&self, scope: &str) -> Result<bool, StoreError>;
    /// Waits up to `timeout` for `run` to end; `None` if it has not.
    async fn wait(&self, run: RunId, timeout: Duration) -> Result<Option<RunRecord>, StoreError>;
    /// How long a `"respond": "sync"` webhook waits for its run.
    fn sync_timeout(&self) -> Duration;
    /// Where Salesforce's Pub/Sub API is.
    fn pubsub_endpoint(&self) -> gust_pubsub::client::Endpoint;
    /// The connection triggers reach Salesforce through.
    fn salesforce(&self) -> Arc<dyn SalesforceService>;
    /// Connection `id` (stored, or `default`): its client and the id of
    /// its org, or why there is none.
    async fn connection(
        &self,
        id: &str,
    ) -> Result<(Arc<dyn SalesforceService>, Option<String>), String>;
}

/// One background trigger's handle on the engine: the events, state and
/// status of its workflow, or of one installation of it.
#[derive(Clone)]
pub(crate) struct TriggerContext {
    host: Arc<dyn TriggerHost>,
    /// Whom its runs are for.
    target: RunFor,
    /// The scope of its state: the workflow id, or the installation's.
    scope: String,
    /// The installation's connection, in place of the host's.
    salesforce: Option<Arc<dyn SalesforceService>>,
    /// How long after each nominal fire time it fires.
    offset: Duration,
    status: StatusCell,
    /// Cancelled when the trigger stops; ends a wait for room in the backlog.
    stop: CancellationToken,
}

/// How often a trigger refused for a full backlog tries again.
const BACKLOG_FULL_WAIT: Duration = Duration::from_millis(200);

impl TriggerContext {
    /// The context of the trigger of `spec`.
    pub(super) fn new(
        host: Arc<dyn TriggerHost>,
        spec: &BackgroundSpec,
        status: StatusCell,
        stop: CancellationToken,
    ) -> Self {
        let scope = match &spec.target.installation {
            Some((installation, _)) => installation_scope(&spec.target.workflow, installation),
            None => spec.target.workflow.clone(),
        };
        Self {
            host,
            target: spec.target.clone(),
            scope,
            salesforce: spec.connection.as_ref().map(|(_, client)| client.clone()),
            offset: spec.offset,
            status,
            stop,
        }
    }

    /// The workflow the trigger starts.
    pub(crate) fn workflow(&self) -> &str {
        &self.target.workflow
    }

    /// How long after each nominal fire time the trigger fires (an
    /// installation's place in its jitter window).
    pub(crate) fn offset(&self) -> Duration {
        self.offset
    }

    /// The connection the trigger reaches Salesforce through: its
    /// installation's, or the server's.
    pub(crate) fn salesforce(&self) -> Arc<dyn SalesforceService> {
        match &self.salesforce {
            Some(connection) => connection.clone(),
            None => self.host.salesforce(),
        }
    }

    /// Where Salesforce's Pub/Sub API is.
    pub(crate) fn pubsub_endpoint(&self) -> gust_pubsub::client::Endpoint {
        self.host.pubsub_endpoint()
    }

    /// Changes the status the admin API shows.
    pub(crate) fn report(&self, change: impl FnOnce(&mut TriggerStatus)) {
        self.status.update(change);
    }

    /// The trigger state stored under `name` (named after the trigger's
    /// type, so a trigger changed to another type starts afresh).
    /// Whether this server may run the trigger now: on a store several
    /// servers share, one runs it at a time, and the others stand by.
    pub(crate) async fn hold(&self) -> Result<bool, StoreError> {
        self.host.hold_trigger(&self.scope).await
    }

    pub(crate) async fn state<T: DeserializeOwned>(
        &self,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        let value = self.host.state(&self.scope, &state_key(name)).await?;
        value
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|error| {
                StoreError::Corrupt(format!(
                    "the trigger state `{name}` of `{}`: {error}",
                    self.scope
                ))
            })
    }

    /// The write that stores `value` as trigger state `name` (`None`
    /// removes it), for [`TriggerContext::submit`], which applies it with
    /// the trigger's events: a trigger moves on only with its events stored.
    pub(crate) fn state_write<T: Serialize>(
        &self,
        name: &str,
        value: Option<&T>,
    ) -> Result<StateWrite, SubmitError> {
        let value = value
            .map(serde_json::to_string)
            .transpose()
            .map_err(|error| {
                SubmitError::Store(StoreError::Corrupt(format!(
                    "the trigger state `{name}` of `{}`: {error}",
                    self.scope
                )))
            })?;
        Ok(StateWrite {
            scope: self.scope.clone(),
            key: state_key(name),
            value,
        })
    }

    /// Stores `events` with the state writes `state` in one durable write.
    /// While the backlog is full it waits (the trigger's status says so)
    /// and tries again, until the trigger stops.
    pub(crate) async fn submit(
        &self,
        events: Vec<NewEvent>,
        state: Vec<StateWrite>,
    ) -> Result<Vec<Accepted>, SubmitError> {
        loop {
            match self
                .host
                .submit(&self.target, events.clone(), state.clone())
                .await
            {
                Err(SubmitError::Overloaded(overloaded)) => {
                    self.report(|status| {
                        status.last_error = Some(format!("waiting: {overloaded}"));
                    });
                    tokio::select! {
                        () = self.stop.cancelled() => return Err(overloaded.into()),
                        () = tokio::time::sleep(BACKLOG_FULL_WAIT) => {}
                    }
                }
                answer => return answer,
            }
        }
    }
}

/// The state key of a trigger's state `name`. Its scope is the workflow id
/// (or `workflow#installation`), which no step's scope (`workflow/step`,
/// `workflow#installation/step`) can be.
fn state_key(name: &str) -> String {
    format!("trigger:{name}")
}
