use std::fmt;

/// An error answered by Salesforce, or by Gust on Salesforce's behalf, with
/// Salesforce's own `errorCode`.
///
/// Gust's own codes start with `GUST_`: `GUST_PERMISSION_DENIED` (the
/// workflow did not grant the call; nothing was sent), `GUST_NO_CONNECTION`
/// (no connection configured) and `GUST_BAD_REQUEST` (the step passed
/// something that is not JSON).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SalesforceError {
    /// The HTTP status; 0 when no request was sent.
    pub status: u16,
    /// Salesforce's `errorCode`, such as `INVALID_FIELD`.
    pub error_code: String,
    /// The message.
    pub message: String,
    /// The fields the error is about.
    pub fields: Vec<String>,
}

impl SalesforceError {
    /// An error with no fields.
    pub fn new(status: u16, error_code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_code: error_code.to_owned(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// The answer to every call when no connection is configured.
    pub fn no_connection() -> Self {
        Self::new(
            0,
            "GUST_NO_CONNECTION",
            "no Salesforce connection configured: add one to gust.toml, or run against the sf-emulator",
        )
    }

    /// A call the step's permissions do not grant; nothing was sent.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(403, "GUST_PERMISSION_DENIED", message)
    }

    /// Something the step passed that Gust cannot send.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "GUST_BAD_REQUEST", message)
    }

    /// Whether the same call may succeed later: row locks, the API request
    /// limit and Salesforce's transient server errors.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.error_code.as_str(),
            "UNABLE_TO_LOCK_ROW" | "REQUEST_LIMIT_EXCEEDED" | "SERVER_UNAVAILABLE"
        ) || matches!(self.status, 502 | 503)
            || (self.status == 500 && self.error_code == "UNKNOWN_EXCEPTION")
    }
}

impl fmt::Display for SalesforceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_code, self.message)?;
        if !self.fields.is_empty() {
            write!(f, " (fields: {})", self.fields.join(", "))?;
        }
        Ok(())
    }
}
