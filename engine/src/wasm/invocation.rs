//! What one invocation of a step produced.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::logs::LogLine;

/// The outcome, logs and time of one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// What the step returned, or why it failed.
    pub result: Result<StepSuccess, StepFailure>,
    /// Its logs, stdout and stderr.
    pub logs: Vec<LogLine>,
    /// Wall-clock time, instantiation included.
    pub duration: Duration,
}

/// A step's successful result.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSuccess {
    /// Its output.
    pub output: Value,
    /// Whether the run goes on.
    pub flow: Flow,
}

/// What the run does after a successful step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flow {
    /// Run the next step.
    Continue,
    /// End the run successfully (a filter that did not match).
    Stop,
}

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct StepFailure {
    /// The kind of failure.
    pub kind: FailureKind,
    /// What happened, for people.
    pub message: String,
    /// Whether another attempt may succeed.
    pub retryable: bool,
}

/// The kinds of step failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The step returned an error.
    Error,
    /// The step trapped or panicked.
    Trap,
    /// The step ran past its time limit.
    Timeout,
    /// The step tried to use more memory than its limit.
    MemoryLimit,
    /// The step used up its fuel.
    OutOfFuel,
    /// The step returned something that is not JSON.
    InvalidOutput,
    /// The sandbox could not be set up for the step.
    Sandbox,
}

impl StepFailure {
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            kind,
            message: message.into(),
            retryable,
        }
    }
}
