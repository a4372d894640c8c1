use std::fmt;

use crate::SalesforceError;

/// Why a step failed.
///
/// Gust retries a failed step according to the workflow's retry policy when
/// the error is retryable, which is the default. Use
/// [`Error::non_retryable`] for failures that another attempt cannot fix,
/// such as invalid input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    retryable: bool,
}

impl Error {
    /// A failure that may succeed when the step runs again.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure that running the step again cannot fix.
    pub fn non_retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }

    /// The message recorded in the run's history.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether Gust may retry the step.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<SalesforceError> for Error {
    fn from(error: SalesforceError) -> Self {
        Self {
            retryable: error.is_retryable(),
            message: error.to_string(),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Self::non_retryable(format!("invalid JSON: {error}"))
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}
