//! Runs a workflow's steps in order for one event, in process: each step's
//! input resolved from the event and earlier outputs, retryable failures
//! retried with backoff, and a report of every step as it finishes.
//!
//! This is what `gust run` uses; the server's durable executor persists the
//! same reports between steps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::salesforce::SalesforceApi;
use crate::state::{StateStore, StepState};
use crate::wasm::{
    FailureKind, Flow, InvocationContext, LogLine, StepComponent, StepFailure, StepLimits,
    StepRuntime,
};
use crate::workflow::reference::Scope;
use crate::workflow::{Permissions, ValidationError, Workflow, WorkflowFile};

/// A workflow whose components are compiled and ready.
#[derive(Clone)]
pub struct PreparedWorkflow {
    /// The definition.
    pub workflow: Arc<Workflow>,
    steps: Vec<PreparedStep>,
}

#[derive(Clone)]
struct PreparedStep {
    component: StepComponent,
    limits: StepLimits,
    permissions: Arc<Permissions>,
}

/// Runs workflows against one runtime, Salesforce connection and state store.
#[derive(Clone)]
pub struct Runner {
    runtime: Arc<StepRuntime>,
    salesforce: Arc<dyn SalesforceApi>,
    state: Arc<dyn StateStore>,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It succeeded and the run went on.
    Succeeded,
    /// It succeeded and ended the run (a filter).
    Stopped,
    /// It failed on its last attempt.
    Failed,
}

/// One attempt at a step.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// How long it took.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StepFailure>,
    /// Its logs.
    pub logs: Vec<LogLine>,
}

/// A finished step.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The step's id.
    pub step: String,
    /// How it ended.
    pub status: StepStatus,
    /// Its resolved input.
    pub input: Value,
    /// Its output, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Its last failure, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<StepFailure>,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// Time from the first attempt to the end of the last, backoff included.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step succeeded, or a step ended the run early.
    Succeeded,
    /// A step failed on its last attempt.
    Failed,
}

/// A finished run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// How it ended.
    pub status: RunStatus,
    /// The output of the last step that ran.
    pub output: Value,
    /// The step that ended the run early, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// Every step that ran.
    pub steps: Vec<StepReport>,
    /// Total time.
    #[serde(rename = "duration_ms", serialize_with = "millis")]
    pub duration: Duration,
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1e3)
}

impl Runner {
    /// A runner over these services.
    pub fn new(
        runtime: Arc<StepRuntime>,
        salesforce: Arc<dyn SalesforceApi>,
        state: Arc<dyn StateStore>,
    ) -> Self {
        Self {
            runtime,
            salesforce,
            state,
        }
    }

    /// Loads every step's component; a module that is missing, is not a
    /// component, or does not fit the step world is reported at its step's
    /// `uses`, with every other such problem.
    pub fn prepare(&self, file: &WorkflowFile) -> Result<PreparedWorkflow, Vec<ValidationError>> {
        let mut steps = Vec::new();
        let mut errors = Vec::new();
        for (index, step) in file.workflow.steps.iter().enumerate() {
            let path = format!("steps[{index}].uses");
            let loaded = file
                .module(step)
                .read()
                .and_then(|wasm| self.runtime.load(&wasm).map_err(|e| e.to_string()));
            if step.fuel.is_some() && !self.runtime.meters_fuel() {
                errors.push(ValidationError::new(
                    format!("steps[{index}].fuel"),
                    "this Gust runs without fuel metering; remove `fuel` or enable metering",
                ));
            }
            match loaded {
                Ok(component) => steps.push(PreparedStep {
                    component,
                    limits: StepLimits::of(step),
                    permissions: Arc::new(step.permissions.clone()),
                }),
                Err(message) => errors.push(ValidationError::new(
                    path,
                    format!("`{}`: {message}", step.uses),
                )),
            }
        }
        if errors.is_empty() {
            Ok(PreparedWorkflow {
                workflow: Arc::new(file.workflow.clone()),
                steps,
            })
        } else {
            Err(errors)
        }
    }

    /// Runs every step for `event`, calling `on_step` as each one finishes.
    pub async fn run(
        &self,
        prepared: &PreparedWorkflow,
        event: Value,
        mut on_step: impl FnMut(&StepReport),
    ) -> RunReport {
        let started = Instant::now();
        let workflow = &prepared.workflow;
        let mut outputs: HashMap<String, Value> = HashMap::new();
        let mut reports = Vec::new();
        let mut last_output = event.clone();
        let mut status = RunStatus::Succeeded;
        let mut stopped_by = None;
        for (step, prepared_step) in workflow.steps.iter().zip(&prepared.steps) {
            let scope = Scope {
                trigger: &event,
                steps: &outputs,
            };
            let input = match &step.with {
                Some(with) => scope.resolve(with),
                None => Ok(last_output.clone()),
            };
            let report = match input {
                Ok(input) => self.run_step(workflow, step, prepared_step, input).await,
                Err(error) => StepReport {
                    step: step.id.to_string(),
                    status: StepStatus::Failed,
                    input: Value::Null,
                    output: None,
                    error: Some(StepFailure {
                        kind: FailureKind::Error,
                        message: format!("cannot resolve the step's input: {error}"),
                        retryable: false,
                    }),
                    attempts: Vec::new(),
                    duration: Duration::ZERO,
                },
            };
            on_step(&report);
            let step_status = report.status;
            if let Some(output) = &report.output {
                outputs.insert(step.id.to_string(), output.clone());
                last_output = output.clone();
            }
            reports.push(report);
            match step_status {
                StepStatus::Succeeded => {}
                StepStatus::Stopped => {
                    stopped_by = Some(step.id.to_string());
                    break;
                }
                StepStatus::Failed => {
                    status = RunStatus::Failed;
                    break;
                }
            }
        }
        RunReport {
            status,
            output: if status == RunStatus::Succeeded {
                last_output
            } else {
                Value::Null
            },
            stopped_by,
            steps: reports,
            duration: started.elapsed(),
        }
    }

    async fn run_step(
        &self,
        workflow: &Workflow,
        step: &crate::workflow::Step,
        prepared: &PreparedStep,
        input: Value,
    ) -> StepReport {
        let started = Instant::now();
        let context = InvocationContext {
            step_id: step.id.to_string(),
            permissions: prepared.permissions.clone(),
            salesforce: self.salesforce.clone(),
            state: StepState::new(self.state.clone(), workflow.id.as_str(), step.id.as_str()),
        };
        let mut attempts = Vec::new();
        loop {
            let number = attempts.len() as u32 + 1;
            let invocation = self
                .runtime
                .invoke(
                    &prepared.component,
                    &input,
                    &prepared.limits,
                    context.clone(),
                )
                .await;
            attempts.push(Attempt {
                number,
                duration: invocation.duration,
                error: invocation.result.as_ref().err().cloned(),
                logs: invocation.logs,
            });
            let (status, output, error) = match invocation.result {
                Ok(success) => match success.flow {
                    Flow::Continue => (StepStatus::Succeeded, Some(success.output), None),
                    Flow::Stop => (StepStatus::Stopped, Some(success.output), None),
                },
                Err(failure) if failure.retryable && number < step.retry.max_attempts => {
                    tracing::debug!(step = %step.id, attempt = number, error = %failure, "Step failed; retrying.");
                    tokio::time::sleep(step.retry.backoff(number + 1)).await;
                    continue;
                }
                Err(failure) => (StepStatus::Failed, None, Some(failure)),
            };
            return StepReport {
                step: step.id.to_string(),
                status,
                input,
                output,
                error,
                attempts,
                duration: started.elapsed(),
            };
        }
    }
}
