//! What one invocation of a step produced.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{LogLine, StepFailure};

/// The outcome, logs and time of one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// What the step returned, or why it failed.
    pub result: Result<StepSuccess, StepFailure>,
    /// Its logs, stdout and stderr.
    pub logs: Vec<LogLine>,
    /// Wall-clock time, instantiation included.
    pub duration: Duration,
    /// The linear memory the instance had when it finished, in bytes: its
    /// initial memory (an interpreter's snapshot included) and what it grew.
    pub memory_bytes: usize,
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
