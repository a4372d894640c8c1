use std::fmt;

use serde::Deserialize;

/// An error answered by Salesforce, or by Gust on Salesforce's behalf, with
/// Salesforce's own `errorCode`.
///
/// Gust's own codes start with `GUST_`: `GUST_PERMISSION_DENIED` (the
/// workflow did not grant the call; nothing was sent), `GUST_NO_CONNECTION`
/// (no connection configured), `GUST_BAD_REQUEST` (the step passed
/// something Gust cannot send), `GUST_TRANSPORT` (no answer: the connection
/// failed or timed out), `GUST_API_BUDGET` (the connection's share of the
/// org's daily API requests is spent; nothing was sent),
/// `GUST_RESULT_TOO_LARGE` (a query's records would not fit the step),
/// `GUST_BAD_RESPONSE` (Salesforce answered something Gust cannot read) and
/// `GUST_HTTP_<status>` (Salesforce answered an error without an
/// `errorCode`, as its load balancers do for 414, 431 or 502).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SalesforceError {
    /// The HTTP status; 0 when no request was sent or none was answered.
    pub status: u16,
    /// Salesforce's `errorCode`, such as `INVALID_FIELD`.
    pub error_code: String,
    /// The message.
    pub message: String,
    /// The fields the error is about.
    pub fields: Vec<String>,
}

/// The most bytes of a non-JSON error body kept in a message.
const MAX_BODY_IN_MESSAGE: usize = 300;

/// One error of Salesforce's REST error array, `[{"message", "errorCode",
/// "fields"}]`, or an OAuth error `{"error", "error_description"}`.
#[derive(Deserialize)]
struct WireError {
    #[serde(default, alias = "statusCode")]
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum WireBody {
    Many(Vec<WireError>),
    One(WireError),
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

    /// The error Salesforce meant by answering `status` with `body`: the
    /// first error of its JSON error array (or its OAuth error), else a
    /// `GUST_HTTP_<status>` error saying what the status means.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        let first = match serde_json::from_slice::<WireBody>(body) {
            Ok(WireBody::Many(errors)) => errors.into_iter().next(),
            Ok(WireBody::One(error)) => Some(error),
            Err(_) => None,
        };
        if let Some(error) = first {
            if let Some(code) = error.error_code {
                return Self {
                    status,
                    error_code: code,
                    message: error.message.unwrap_or_default(),
                    fields: error.fields,
                };
            }
            if let Some(code) = error.error {
                return Self::new(status, &code, error.error_description.unwrap_or_default());
            }
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let mut message = status_meaning(status).to_owned();
        if !text.is_empty() {
            let cut = text
                .char_indices()
                .nth(MAX_BODY_IN_MESSAGE)
                .map_or(text.len(), |(at, _)| at);
            message = format!("{message}: {}", &text[..cut]);
        }
        Self::new(status, &format!("GUST_HTTP_{status}"), message)
    }

    /// No answer came: the connection failed or timed out.
    pub fn transport(error: &reqwest::Error) -> Self {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        Self::new(0, "GUST_TRANSPORT", message)
    }

    /// Salesforce answered `status` with something Gust cannot read.
    pub fn bad_response(status: u16, message: impl Into<String>) -> Self {
        Self::new(status, "GUST_BAD_RESPONSE", message)
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
    /// limit, Salesforce's transient server errors and lost connections.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.error_code.as_str(),
            "UNABLE_TO_LOCK_ROW"
                | "REQUEST_LIMIT_EXCEEDED"
                | "SERVER_UNAVAILABLE"
                | "GUST_TRANSPORT"
                | "GUST_API_BUDGET"
        ) || matches!(self.status, 502 | 503)
            || (self.status == 500 && self.error_code == "UNKNOWN_EXCEPTION")
    }
}

/// What Salesforce's REST status table says a status means.
fn status_meaning(status: u16) -> &'static str {
    match status {
        300 => "the external id matches more than one record",
        400 => "the request could not be understood (a bad body or query)",
        401 => "the session ID or OAuth token has expired or is invalid",
        403 => "the request was refused: check the user's permissions or the API request limit",
        404 => "the requested resource could not be found",
        405 => "the method is not allowed for this resource",
        409 => "the request conflicts with the current state of the resource",
        410 => "the requested resource has been retired or removed",
        412 => "the request's preconditions (If-Match, If-None-Match) did not match",
        414 => "the URI is longer than Salesforce's 16,384-byte limit",
        415 => "the body is in a format Salesforce does not take",
        420 => "Salesforce Edge has no route for the request's host",
        428 => "the request must be conditional (send If-Match or If-None-Match)",
        431 => "the URI and headers together exceed Salesforce's 16,384-byte limit",
        500 => "Salesforce met an internal error",
        502 => "Salesforce Edge could not reach the Salesforce instance",
        503 => "Salesforce is unavailable: down for maintenance or overloaded",
        _ => "Salesforce answered an error",
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

#[cfg(test)]
mod tests {
    use super::SalesforceError;

    #[test]
    fn reads_the_rest_error_array() {
        let body =
            br#"[{"message":"No such column 'Foo'","errorCode":"INVALID_FIELD","fields":["Foo"]}]"#;
        let error = SalesforceError::from_response(400, body);
        assert_eq!(error.error_code, "INVALID_FIELD");
        assert_eq!(error.message, "No such column 'Foo'");
        assert_eq!(error.fields, ["Foo"]);
        assert!(!error.is_retryable());
    }

    #[test]
    fn reads_oauth_errors() {
        let body =
            br#"{"error":"invalid_grant","error_description":"expired access/refresh token"}"#;
        let error = SalesforceError::from_response(400, body);
        assert_eq!(error.error_code, "invalid_grant");
        assert_eq!(error.message, "expired access/refresh token");
    }

    #[test]
    fn a_body_without_an_error_code_names_the_status() {
        let body = b"<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>";
        let error = SalesforceError::from_response(414, body);
        assert_eq!(error.error_code, "GUST_HTTP_414");
        assert!(error.message.starts_with("the URI is longer"), "{error}");
        assert!(error.message.contains("URI Too Long"), "{error}");
        for status in [
            400, 401, 403, 404, 405, 409, 410, 412, 414, 415, 420, 428, 431, 500,
        ] {
            let error = SalesforceError::from_response(status, b"");
            assert_eq!(error.error_code, format!("GUST_HTTP_{status}"));
            assert_ne!(error.message, "Salesforce answered an error", "{status}");
            assert!(!error.is_retryable(), "{status}");
        }
        for status in [502, 503] {
            assert!(SalesforceError::from_response(status, b"busy").is_retryable());
        }
    }

    #[test]
    fn retries_only_transient_errors() {
        let retryable = |status, code| SalesforceError::new(status, code, "").is_retryable();
        assert!(retryable(400, "UNABLE_TO_LOCK_ROW"));
        assert!(retryable(403, "REQUEST_LIMIT_EXCEEDED"));
        assert!(retryable(500, "UNKNOWN_EXCEPTION"));
        assert!(retryable(503, "SERVER_UNAVAILABLE"));
        assert!(!retryable(403, "INSUFFICIENT_ACCESS"));
        assert!(!retryable(401, "INVALID_SESSION_ID"));
        assert!(!retryable(400, "DUPLICATE_VALUE"));
    }
}
