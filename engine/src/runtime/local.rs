//! Runs a workflow's steps in order for one event, in process: each step's
//! input resolved from the event and earlier outputs, retryable failures
//! retried with backoff, and a record of every step as it finishes.
//!
//! This is what `gust run` uses. It walks the steps as the server's durable
//! executor does ([`Walk`]), without a store: retries wait in process and
//! state writes are applied to the runner's state store after each attempt,
//! and Salesforce calls are journaled in memory, so a retried step gets its
//! earlier answers back as it would in the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::steps::{JournalScope, Next, PreparedWorkflow, StepRunner, settle};
use super::walk::{Ending, Position, Walk};
use crate::model::{RunId, RunStatus, StepRecord};
use crate::salesforce::SalesforceActions;
use crate::store::StateStore;
use crate::wasm::Sandbox;
use crate::workflow::reference::Installed;
use crate::workflow::{ValidationErrors, WorkflowFile};

/// Runs workflows in process, for `gust run` and tests.
#[derive(Clone)]
pub struct LocalRunner {
    steps: StepRunner,
    installation: Option<Installed>,
}

/// A finished in-process run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// How it ended: succeeded or failed.
    pub status: RunStatus,
    /// The output of the last step that ran.
    pub output: Value,
    /// The step that ended the run early, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// Every step that ran.
    pub steps: Vec<StepRecord>,
    /// Total time.
    #[serde(rename = "duration_ms", with = "crate::model::millis")]
    pub duration: Duration,
}

impl LocalRunner {
    /// A runner over these services.
    pub fn new(
        sandbox: Arc<Sandbox>,
        salesforce: Arc<dyn SalesforceActions>,
        state: Arc<dyn StateStore>,
    ) -> Self {
        Self {
            steps: StepRunner::new(sandbox, salesforce, state),
            installation: None,
        }
    }

    /// This runner running as an installation: steps read `${config...}`,
    /// `${installation...}` and `${tenant}` from `installed`.
    pub fn as_installation(mut self, installed: Installed) -> Self {
        self.installation = Some(installed);
        self
    }

    /// Compiles `file`'s components (see [`StepRunner::prepare`]).
    pub fn prepare(&self, file: &WorkflowFile) -> Result<PreparedWorkflow, ValidationErrors> {
        self.steps.prepare(file)
    }

    /// Runs every step for `event`, calling `on_step` as each one finishes.
    pub async fn run(
        &self,
        prepared: &PreparedWorkflow,
        event: Value,
        mut on_step: impl FnMut(&StepRecord),
    ) -> RunReport {
        let started = Instant::now();
        let mut walk = Walk::new(prepared, &event, self.installation.as_ref());
        let mut records = Vec::new();
        let run = RunId::new();
        let (status, output, stopped_by) = loop {
            match walk.next(&records) {
                Position::Attempt { index, record, .. } => {
                    let record = self.run_step(run, prepared, index, record).await;
                    on_step(&record);
                    records.push(record);
                }
                Position::Ended(Ending::Succeeded { output, stopped_by }) => {
                    break (RunStatus::Succeeded, output, stopped_by);
                }
                Position::Ended(Ending::Failed { unresolvable, .. }) => {
                    if let Some(record) = unresolvable {
                        on_step(&record);
                        records.push(record);
                    }
                    break (RunStatus::Failed, Value::Null, None);
                }
            }
        };
        RunReport {
            status,
            output,
            stopped_by,
            steps: records,
            duration: started.elapsed(),
        }
    }

    /// Attempts step `index` until it ends, waiting out each retry.
    async fn run_step(
        &self,
        run: RunId,
        prepared: &PreparedWorkflow,
        index: usize,
        mut record: StepRecord,
    ) -> StepRecord {
        let step = &prepared.workflow.steps[index];
        loop {
            let scope = JournalScope {
                id: run,
                fresh: false,
            };
            let outcome = self
                .steps
                .attempt(scope, None, prepared, index, &record)
                .await;
            if let Err(error) = self.steps.state().apply(&outcome.state_writes).await {
                tracing::warn!(step = %step.id, %error, "The step's state writes were lost.");
            }
            match settle(&mut record, outcome, &step.retry) {
                Next::Retry(delay) => tokio::time::sleep(delay).await,
                _ => return record,
            }
        }
    }
}
