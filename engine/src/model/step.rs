//! A step of a run as stored: its input, every attempt, and its outcome.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{FailureKind, LogLine, SalesforceCall, StepFailure, now};

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
    /// The Salesforce calls it made, in order (kept by the call journal).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<SalesforceCall>,
}

/// A step of a run: its input, attempts and, once it ended, its outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
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
    /// The attempts made before the run was last resumed: the step's retry
    /// policy counts the attempts after them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resumed_after: u32,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

impl StepRecord {
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
            resumed_after: 0,
        }
    }

    /// A step that failed before any attempt, its input unresolvable.
    pub fn unresolvable(step: &str, error: impl std::fmt::Display) -> Self {
        let mut record = Self::start(step, Value::Null);
        record.status = StepStatus::Failed;
        record.error = Some(StepFailure {
            kind: FailureKind::Error,
            message: format!("cannot resolve the step's input: {error}"),
            retryable: false,
        });
        record.finished_at = Some(record.started_at);
        record
    }

    /// Takes a failed step back to its next attempt, with a fresh retry
    /// budget: the run is resumed.
    pub fn resume(&mut self) {
        self.status = StepStatus::Retrying;
        self.error = None;
        self.finished_at = None;
        self.resumed_after = u32::try_from(self.attempts.len()).unwrap_or(u32::MAX);
    }

    /// The number of the next attempt: 1 before any.
    pub fn next_attempt(&self) -> u32 {
        u32::try_from(self.attempts.len()).map_or(u32::MAX, |made| made.saturating_add(1))
    }

    /// Why the step failed, as the run's error: "step `x` failed: ...".
    pub fn failure_summary(&self) -> String {
        let message = self
            .error
            .as_ref()
            .map_or("failed", |error| error.message.as_str());
        format!("step `{}` failed: {message}", self.step)
    }
}

/// Durations as milliseconds, fractional.
pub(crate) mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(duration.as_secs_f64() * 1e3)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let millis = f64::deserialize(deserializer)?;
        Ok(Duration::try_from_secs_f64(millis / 1e3).unwrap_or_default())
    }
}
