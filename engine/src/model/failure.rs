//! Why a step attempt failed, as stored with the attempt.

use serde::{Deserialize, Serialize};

/// Why a step attempt failed.
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
