//! A step's log lines, as stored with each attempt.

use serde::{Deserialize, Serialize};

/// How important a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Fine detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the step handled.
    Warn,
    /// A failure.
    Error,
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSource {
    /// The step's `log` calls.
    Log,
    /// The step's stdout.
    Stdout,
    /// The step's stderr.
    Stderr,
    /// Gust itself, about the step (a refused call, dropped output).
    Host,
}

/// One line of a step's logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// How important it is.
    pub level: LogLevel,
    /// Where it came from.
    pub source: LogSource,
    /// The text.
    pub message: String,
}
