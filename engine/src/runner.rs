//! Runs a workflow's steps in order for one event, in process: each step's
//! input resolved from the event and earlier outputs, retryable failures
//! retried with backoff, and a report of every step as it finishes.
//!
//! This is what `gust run` uses; the server's durable executor persists the
//! same reports between steps.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::runtime::{RunStatus, now};
use crate::salesforce::SalesforceApi;
use crate::state::{StateStore, StateWrite, StepState};
use crate::wasm::{
    FailureKind, Flow, InvocationContext, LogLine, StepComponent, StepFailure, StepLimits,
    StepRuntime, StepSuccess,
};
use crate::workflow::reference::Scope;
use crate::workflow::{Permissions, RetryPolicy, ValidationError, Workflow, WorkflowFile};

/// A workflow whose components are compiled and ready.
#[derive(Clone)]
pub struct PreparedWorkflow {
    /// The definition.
    pub workflow: Arc<Workflow>,
    steps: Arc<[PreparedStep]>,
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

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It succeeded and the run went on.
    Succeeded,
    /// It succeeded and ended the run (a filter).
    Stopped,
    /// An attempt failed and another is due.
    Retrying,
    /// It failed on its last attempt.
    Failed,
}

impl StepStatus {
    /// Whether the step has ended, so it never runs again in this run.
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Retrying)
    }
}

/// One attempt at a step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    #[serde(rename = "duration_ms", with = "millis")]
    pub duration: Duration,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepFailure>,
    /// Its logs.
    pub logs: Vec<LogLine>,
}

/// A step of a run: its input, attempts and, once it ended, its outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    /// The step's id.
    pub step: String,
    /// Where it is.
    pub status: StepStatus,
    /// Its resolved input.
    pub input: Value,
    /// Its output, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Its last failure, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepFailure>,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// When its first attempt started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Time from the first attempt to the end of the last, backoff included.
    #[serde(rename = "duration_ms", with = "millis")]
    pub duration: Duration,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run the next step.
    Continue,
    /// End the run successfully.
    Stop,
    /// Attempt the step again after this delay.
    Retry(Duration),
    /// End the run as failed.
    Fail,
}

impl StepReport {
    /// A step about to make its first attempt on `input`.
    pub fn start(step: &str, input: Value) -> Self {
        Self {
            step: step.to_owned(),
            status: StepStatus::Retrying,
            input,
            output: None,
            error: None,
            attempts: Vec::new(),
            started_at: now(),
            finished_at: None,
            duration: Duration::ZERO,
        }
    }

    /// A step that failed before any attempt, its input unresolvable.
    pub fn unresolvable(step: &str, error: impl std::fmt::Display) -> Self {
        let mut report = Self::start(step, Value::Null);
        report.status = StepStatus::Failed;
        report.error = Some(StepFailure {
            kind: FailureKind::Error,
            message: format!("cannot resolve the step's input: {error}"),
            retryable: false,
        });
        report.finished_at = Some(report.started_at);
        report
    }

    /// Records `attempt` and says what follows it under `retry`.
    pub fn settle(&mut self, attempt: AttemptOutcome, retry: &RetryPolicy) -> Next {
        let number = attempt.attempt.number;
        self.attempts.push(attempt.attempt);
        let finished = now();
        // The timestamps are kept to the millisecond; a step faster than
        // that still took the time its attempts measured.
        let wall = (finished - self.started_at).to_std().unwrap_or_default();
        let attempts: Duration = self.attempts.iter().map(|attempt| attempt.duration).sum();
        self.duration = wall.max(attempts);
        let next = match attempt.result {
            Ok(success) => {
                self.output = Some(success.output);
                self.error = None;
                match success.flow {
                    Flow::Continue => (StepStatus::Succeeded, Next::Continue),
                    Flow::Stop => (StepStatus::Stopped, Next::Stop),
                }
            }
            Err(failure) => {
                let retry_after = (failure.retryable && number < retry.max_attempts)
                    .then(|| retry.backoff(number + 1));
                self.error = Some(failure);
                match retry_after {
                    Some(delay) => (StepStatus::Retrying, Next::Retry(delay)),
                    None => (StepStatus::Failed, Next::Fail),
                }
            }
        };
        self.status = next.0;
        self.finished_at = self.status.is_final().then_some(finished);
        next.1
    }
}

/// One attempt's record, result and state writes.
#[derive(Debug)]
pub struct AttemptOutcome {
    /// Its record.
    pub attempt: Attempt,
    /// What the step returned, or why it failed.
    pub result: Result<StepSuccess, StepFailure>,
    /// The state writes it made, to commit with its record.
    pub state_writes: Vec<StateWrite>,
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
    pub steps: Vec<StepReport>,
    /// Total time.
    #[serde(rename = "duration_ms", with = "millis")]
    pub duration: Duration,
}

/// Durations as milliseconds, fractional.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64() * 1e3)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let millis = f64::deserialize(deserializer)?;
        Ok(Duration::try_from_secs_f64(millis / 1e3).unwrap_or_default())
    }
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
                steps: steps.into(),
            })
        } else {
            Err(errors)
        }
    }

    /// The input of step number `index`: its `with` resolved against the
    /// event and earlier outputs, or the previous output.
    pub fn step_input(
        prepared: &PreparedWorkflow,
        index: usize,
        event: &Value,
        outputs: &HashMap<String, Value>,
        previous: &Value,
    ) -> Result<Value, String> {
        let scope = Scope {
            trigger: event,
            steps: outputs,
        };
        match &prepared.workflow.steps[index].with {
            Some(with) => scope.resolve(with).map_err(|error| error.to_string()),
            None => Ok(previous.clone()),
        }
    }

    /// Makes attempt `number` at step number `index` on `input`.
    pub async fn attempt(
        &self,
        prepared: &PreparedWorkflow,
        index: usize,
        input: &Value,
        number: u32,
    ) -> AttemptOutcome {
        let workflow = &prepared.workflow;
        let step = &workflow.steps[index];
        let prepared_step = &prepared.steps[index];
        let state = StepState::new(self.state.clone(), workflow.id.as_str(), step.id.as_str());
        let context = InvocationContext {
            step_id: step.id.to_string(),
            permissions: prepared_step.permissions.clone(),
            salesforce: self.salesforce.clone(),
            state: state.clone(),
        };
        let started_at = now();
        let invocation = self
            .runtime
            .invoke(
                &prepared_step.component,
                input,
                &prepared_step.limits,
                context,
            )
            .await;
        if let Err(failure) = &invocation.result {
            tracing::debug!(workflow = %workflow.id, step = %step.id, attempt = number, error = %failure, "Step attempt failed.");
        }
        AttemptOutcome {
            attempt: Attempt {
                number,
                started_at,
                duration: invocation.duration,
                error: invocation.result.as_ref().err().cloned(),
                logs: invocation.logs,
            },
            result: invocation.result,
            state_writes: state.take_writes(),
        }
    }

    /// Runs every step for `event` in process, calling `on_step` as each one
    /// finishes; retries wait in process and state writes are applied to the
    /// runner's state store after each attempt.
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
        for (index, step) in workflow.steps.iter().enumerate() {
            let (report, next) =
                match Self::step_input(prepared, index, &event, &outputs, &last_output) {
                    Ok(input) => self.run_step(prepared, index, input).await,
                    Err(error) => (
                        StepReport::unresolvable(step.id.as_str(), error),
                        Next::Fail,
                    ),
                };
            on_step(&report);
            if let Some(output) = &report.output {
                outputs.insert(step.id.to_string(), output.clone());
                last_output = output.clone();
            }
            reports.push(report);
            match next {
                Next::Continue | Next::Retry(_) => {}
                Next::Stop => {
                    stopped_by = Some(step.id.to_string());
                    break;
                }
                Next::Fail => {
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
        prepared: &PreparedWorkflow,
        index: usize,
        input: Value,
    ) -> (StepReport, Next) {
        let step = &prepared.workflow.steps[index];
        let mut report = StepReport::start(step.id.as_str(), input);
        loop {
            let number = report.attempts.len() as u32 + 1;
            let outcome = self.attempt(prepared, index, &report.input, number).await;
            if let Err(error) = self.state.apply(&outcome.state_writes) {
                tracing::warn!(step = %step.id, %error, "The step's state writes were lost.");
            }
            match report.settle(outcome, &step.retry) {
                Next::Retry(delay) => tokio::time::sleep(delay).await,
                next => return (report, next),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn outcome(duration: Duration, result: Result<StepSuccess, StepFailure>) -> AttemptOutcome {
        AttemptOutcome {
            attempt: Attempt {
                number: 1,
                started_at: now(),
                duration,
                error: result.as_ref().err().cloned(),
                logs: Vec::new(),
            },
            result,
            state_writes: Vec::new(),
        }
    }

    #[test]
    fn a_step_faster_than_a_millisecond_still_reports_its_time() {
        let mut report = StepReport::start("quick", json!({}));
        let success = StepSuccess {
            output: json!({ "ok": true }),
            flow: Flow::Continue,
        };
        let next = report.settle(
            outcome(Duration::from_micros(300), Ok(success)),
            &RetryPolicy::default(),
        );
        assert_eq!(next, Next::Continue);
        assert_eq!(report.status, StepStatus::Succeeded);
        assert!(report.duration >= Duration::from_micros(300));
        assert!(report.finished_at.is_some());
    }

    #[test]
    fn a_retryable_failure_waits_for_another_attempt_until_the_last() {
        let policy = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        let failure = || StepFailure {
            kind: FailureKind::Error,
            message: "busy".to_owned(),
            retryable: true,
        };
        let mut report = StepReport::start("flaky", json!({}));
        let next = report.settle(outcome(Duration::from_millis(1), Err(failure())), &policy);
        assert!(matches!(next, Next::Retry(_)));
        assert_eq!(report.status, StepStatus::Retrying);
        assert_eq!(report.finished_at, None);
        let mut second = outcome(Duration::from_millis(1), Err(failure()));
        second.attempt.number = 2;
        assert_eq!(report.settle(second, &policy), Next::Fail);
        assert_eq!(report.status, StepStatus::Failed);
        assert_eq!(report.attempts.len(), 2);
    }
}
