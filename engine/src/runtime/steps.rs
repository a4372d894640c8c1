//! Making one attempt at one step: the workflow's components compiled
//! ([`PreparedWorkflow`]), an attempt run in the sandbox with the step's
//! permissions and state ([`StepRunner::attempt`]), and its outcome settled
//! into the step's record under the step's retry policy ([`settle`]).

use std::sync::Arc;
use std::time::Duration;

use super::installations::Tenancy;
use super::journal::{DEFAULT_MAX_READ_BYTES, JournaledSalesforce};
use crate::model::{
    Attempt, FailureKind, RunId, StateWrite, StepFailure, StepRecord, StepStatus, now,
};
use crate::salesforce::SalesforceActions;
use crate::store::{JournalStore, MemoryJournalStore, StateStore, StepState};
use crate::wasm::{
    Error as WasmError, Flow, InvocationContext, Sandbox, StepComponent, StepLimits, StepSuccess,
};
use crate::workflow::{
    ModuleCode, ModuleRef, Permissions, RetryPolicy, Step, ValidationError, ValidationErrors,
    Workflow, WorkflowFile, script_name,
};

/// A workflow whose components are compiled and ready.
#[derive(Clone)]
pub struct PreparedWorkflow {
    /// The definition.
    pub workflow: Arc<Workflow>,
    /// Its version (see [`Workflow::version`]).
    pub version: Arc<str>,
    /// The file it was read from; component paths are relative to it.
    pub source: Arc<std::path::Path>,
    steps: Arc<[PreparedStep]>,
}

#[derive(Clone)]
struct PreparedStep {
    component: StepComponent,
    limits: StepLimits,
    permissions: Arc<Permissions>,
}

/// Makes step attempts against one sandbox, Salesforce connection, state
/// store and call journal.
#[derive(Clone)]
pub struct StepRunner {
    sandbox: Arc<Sandbox>,
    salesforce: Arc<dyn SalesforceActions>,
    state: Arc<dyn StateStore>,
    journal: Arc<dyn JournalStore>,
    max_read_bytes: usize,
}

/// The run an attempt belongs to, as its call journal sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JournalScope {
    /// The run.
    pub(crate) id: RunId,
    /// Whether no step of the run was ever attempted before this process
    /// took it (a run just accepted): its journal is empty, unread.
    pub(crate) fresh: bool,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Run the next step.
    Continue,
    /// End the run successfully.
    Stop,
    /// Attempt the step again after this delay.
    Retry(Duration),
    /// End the run as failed.
    Fail,
}

/// Why a step could not be loaded.
enum LoadFailure {
    /// The module could not be had or used; said after its `uses`.
    Module(String),
    /// The script does not compile: `name:line:column: message`.
    Script(String),
}

/// One attempt's record, result and state writes.
#[derive(Debug)]
pub(crate) struct AttemptOutcome {
    /// Its record.
    pub(crate) attempt: Attempt,
    /// What the step returned, or why it failed.
    pub(crate) result: Result<StepSuccess, StepFailure>,
    /// The state writes it made, to commit with its record.
    pub(crate) state_writes: Vec<StateWrite>,
}

impl StepRunner {
    /// A runner over these services, journaling Salesforce calls in
    /// memory (see [`StepRunner::with_journal`]).
    pub fn new(
        sandbox: Arc<Sandbox>,
        salesforce: Arc<dyn SalesforceActions>,
        state: Arc<dyn StateStore>,
    ) -> Self {
        Self {
            sandbox,
            salesforce,
            state,
            journal: Arc::new(MemoryJournalStore::default()),
            max_read_bytes: DEFAULT_MAX_READ_BYTES,
        }
    }

    /// This runner journaling Salesforce calls in `journal`, keeping the
    /// answers of reads up to `max_read_bytes` (larger ones are read again
    /// when a step runs again).
    pub fn with_journal(mut self, journal: Arc<dyn JournalStore>, max_read_bytes: usize) -> Self {
        self.journal = journal;
        self.max_read_bytes = max_read_bytes;
        self
    }

    /// The state store attempts read from.
    pub(crate) fn state(&self) -> &Arc<dyn StateStore> {
        &self.state
    }

    /// Loads every step's component; a module that is missing, is not a
    /// component, or does not fit the step world is reported at its step's
    /// `uses`, with every other such problem.
    pub fn prepare(&self, file: &WorkflowFile) -> Result<PreparedWorkflow, ValidationErrors> {
        let mut steps = Vec::new();
        let mut errors = Vec::new();
        for (index, step) in file.workflow.steps.iter().enumerate() {
            let module = file.module(step);
            let field = match module {
                ModuleRef::Inline(..) => "code",
                _ => "uses",
            };
            let path = format!("steps[{index}].{field}");
            let loaded = self.load(step, &module);
            if step.fuel.is_some() && !self.sandbox.meters_fuel() {
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
                Err(LoadFailure::Script(problem)) => {
                    errors.push(ValidationError::new(path, problem));
                }
                Err(LoadFailure::Module(message)) => {
                    let hint = match file.source(step) {
                        Some(source) if !module.exists() => format!(
                            "; build it from {} with `gust build {}`",
                            source.display(),
                            file.path.display()
                        ),
                        _ => String::new(),
                    };
                    let what = match &module {
                        ModuleRef::Inline(language, _) => format!("the inline {language} code"),
                        _ => format!("`{}`", step.uses),
                    };
                    errors.push(ValidationError::new(
                        path,
                        format!("{what}: {message}{hint}"),
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(PreparedWorkflow {
                version: file.workflow.version().into(),
                workflow: Arc::new(file.workflow.clone()),
                source: file.path.clone().into(),
                steps: steps.into(),
            })
        } else {
            Err(ValidationErrors(errors))
        }
    }

    /// The step's component, or its script checked by its interpreter.
    fn load(&self, step: &Step, module: &ModuleRef) -> Result<StepComponent, LoadFailure> {
        let code = module
            .read()
            .map_err(|error| LoadFailure::Module(error.to_string()))?;
        let loaded = match code {
            ModuleCode::Component(wasm) => self.sandbox.load(&wasm),
            ModuleCode::Script(language, source) => {
                let name = script_name(step, language);
                self.sandbox.load_script(language, &name, &source)
            }
        };
        loaded.map_err(|error| match error {
            WasmError::Script(problem) => LoadFailure::Script(problem),
            other => LoadFailure::Module(other.to_string()),
        })
    }

    /// Makes the next attempt at step number `index` of `run`, whose record
    /// is `record`; a run of an installation reaches Salesforce through
    /// its `tenancy`'s connection and keeps state in its scope.
    pub(crate) async fn attempt(
        &self,
        run: JournalScope,
        tenancy: Option<&Tenancy>,
        prepared: &PreparedWorkflow,
        index: usize,
        record: &StepRecord,
    ) -> AttemptOutcome {
        let workflow = &prepared.workflow;
        let step = &workflow.steps[index];
        let prepared_step = &prepared.steps[index];
        let number = record.next_attempt();
        let started_at = now();
        let earlier = match run.fresh {
            true => Ok(Vec::new()),
            false => self.journal.journal(run.id, step.id.as_str()).await,
        };
        let earlier = match earlier {
            Ok(earlier) => earlier,
            Err(error) => {
                let failure = StepFailure::new(
                    FailureKind::Sandbox,
                    format!("the step's call journal could not be read: {error}"),
                    error.is_retryable(),
                );
                return AttemptOutcome {
                    attempt: Attempt {
                        number,
                        started_at,
                        duration: Duration::ZERO,
                        error: Some(failure.clone()),
                        logs: Vec::new(),
                        calls: Vec::new(),
                    },
                    result: Err(failure),
                    state_writes: Vec::new(),
                };
            }
        };
        let salesforce: Arc<dyn SalesforceActions> =
            match tenancy.and_then(|tenancy| tenancy.salesforce.clone()) {
                Some(connection) => connection,
                None => self.salesforce.clone(),
            };
        let journal = Arc::new(JournaledSalesforce::new(
            salesforce.clone(),
            self.journal.clone(),
            (run.id, step.id.as_str()),
            earlier,
            self.max_read_bytes,
        ));
        let scope = tenancy.map_or(workflow.id.as_str(), |tenancy| &tenancy.state_scope);
        let state = StepState::new(self.state.clone(), scope, step.id.as_str());
        let context = InvocationContext {
            step_id: step.id.to_string(),
            permissions: prepared_step.permissions.clone(),
            salesforce: journal.clone(),
            schema: salesforce,
            state: state.clone(),
        };
        let invocation = self
            .sandbox
            .invoke(
                &prepared_step.component,
                &record.input,
                &prepared_step.limits,
                context,
            )
            .await;
        if let Err(failure) = &invocation.result {
            tracing::debug!(workflow = %workflow.id, step = %step.id, attempt = number, error = %failure, "Step attempt failed.");
        }
        let (calls, notes) = journal.take();
        let mut logs = invocation.logs;
        logs.extend(notes);
        AttemptOutcome {
            attempt: Attempt {
                number,
                started_at,
                duration: invocation.duration,
                error: invocation.result.as_ref().err().cloned(),
                logs,
                calls,
            },
            result: invocation.result,
            state_writes: state.take_writes(),
        }
    }
}

/// Records `outcome` in `record` and says what follows it under `retry`.
pub(crate) fn settle(
    record: &mut StepRecord,
    outcome: AttemptOutcome,
    retry: &RetryPolicy,
) -> Next {
    let number = outcome.attempt.number;
    record.attempts.push(outcome.attempt);
    let finished = now();
    // The timestamps are kept to the millisecond; a step faster than that
    // still took the time its attempts measured.
    let wall = (finished - record.started_at).to_std().unwrap_or_default();
    let attempts: Duration = record.attempts.iter().map(|attempt| attempt.duration).sum();
    record.duration = wall.max(attempts);
    let next = match outcome.result {
        Ok(success) => {
            record.output = Some(success.output);
            record.error = None;
            match success.flow {
                Flow::Continue => (StepStatus::Succeeded, Next::Continue),
                Flow::Stop => (StepStatus::Stopped, Next::Stop),
            }
        }
        Err(failure) => {
            // A resumed step's attempts count from the resume.
            let made = number.saturating_sub(record.resumed_after);
            let retry_after =
                (failure.retryable && made < retry.max_attempts).then(|| retry.backoff(made + 1));
            record.error = Some(failure);
            match retry_after {
                Some(delay) => (StepStatus::Retrying, Next::Retry(delay)),
                None => (StepStatus::Failed, Next::Fail),
            }
        }
    };
    record.status = next.0;
    record.finished_at = record.status.is_final().then_some(finished);
    next.1
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::FailureKind;

    fn outcome(duration: Duration, result: Result<StepSuccess, StepFailure>) -> AttemptOutcome {
        AttemptOutcome {
            attempt: Attempt {
                number: 1,
                started_at: now(),
                duration,
                error: result.as_ref().err().cloned(),
                logs: Vec::new(),
                calls: Vec::new(),
            },
            result,
            state_writes: Vec::new(),
        }
    }

    #[test]
    fn a_step_faster_than_a_millisecond_still_reports_its_time() {
        let mut record = StepRecord::start("quick", json!({}));
        let success = StepSuccess {
            output: json!({ "ok": true }),
            flow: Flow::Continue,
        };
        let next = settle(
            &mut record,
            outcome(Duration::from_micros(300), Ok(success)),
            &RetryPolicy::default(),
        );
        assert_eq!(next, Next::Continue);
        assert_eq!(record.status, StepStatus::Succeeded);
        assert!(record.duration >= Duration::from_micros(300));
        assert!(record.finished_at.is_some());
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
        let mut record = StepRecord::start("flaky", json!({}));
        let next = settle(
            &mut record,
            outcome(Duration::from_millis(1), Err(failure())),
            &policy,
        );
        assert!(matches!(next, Next::Retry(_)));
        assert_eq!(record.status, StepStatus::Retrying);
        assert_eq!(record.finished_at, None);
        let mut second = outcome(Duration::from_millis(1), Err(failure()));
        second.attempt.number = 2;
        assert_eq!(settle(&mut record, second, &policy), Next::Fail);
        assert_eq!(record.status, StepStatus::Failed);
        assert_eq!(record.attempts.len(), 2);
    }
}
