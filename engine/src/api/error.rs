//! The one error type of the HTTP edge: each refusal knows its status, and
//! every answer is `{"error": "..."}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::model::{InvalidRunId, InvalidRunStatus};
use crate::runtime::SubmitError;
use crate::store::StoreError;

/// A refused request: its status and what to tell the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong and how to fix it.
    pub message: String,
    /// When to send the request again, in seconds (`Retry-After`).
    pub retry_after: Option<u32>,
    /// Each problem with the request's JSON, at its path (a config that
    /// does not fit its schema).
    pub errors: Vec<FieldError>,
}

/// One problem with a request's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Where: a JSON path, `config.min_score`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong and how to fix it.
    pub error: String,
    /// Each problem at its JSON path, when the request's JSON had some.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    /// An error answered with `status`.
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> Self {
        Self {
            status,
            message: message.to_string(),
            retry_after: None,
            errors: Vec::new(),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: what the request names does not exist.
    pub fn not_found(message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            errors: self.errors,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// 503 when the store failed (retry later) or the backlog is at its bound
/// (with `Retry-After`), 409 when a run cannot be resumed or the
/// installation is paused, 404 when the workflow, run or installation is
/// unknown.
impl From<SubmitError> for ApiError {
    fn from(refusal: SubmitError) -> Self {
        match refusal {
            SubmitError::Store(store_error) => {
                tracing::error!(error = %store_error, "An event could not be stored.");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the event was not stored, retry later: {store_error}"),
                )
            }
            SubmitError::Overloaded(overloaded) => Self {
                retry_after: Some(RETRY_AFTER_SECONDS),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, overloaded)
            },
            SubmitError::NotResumable { .. } | SubmitError::InstallationStopped { .. } => {
                Self::new(StatusCode::CONFLICT, refusal.to_string())
            }
            other => Self::not_found(other),
        }
    }
}

/// How long a sender refused for a full backlog is asked to wait: about
/// what a full backlog of trivial runs takes to drain by a fifth.
const RETRY_AFTER_SECONDS: u32 = 1;

/// 503: the store could not be read; the request may be retried.
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, error)
    }
}

impl From<InvalidRunId> for ApiError {
    fn from(error: InvalidRunId) -> Self {
        Self::bad_request(error)
    }
}

impl From<InvalidRunStatus> for ApiError {
    fn from(error: InvalidRunStatus) -> Self {
        Self::bad_request(error)
    }
}
