//! Errors in Salesforce's shapes: REST errors are an array of
//! `{message, errorCode, fields?}` with an HTTP status; inside a record's
//! save result the same error has `statusCode` instead.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One Salesforce error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status it is answered with.
    pub status: StatusCode,
    /// Salesforce's errorCode, e.g. `INVALID_FIELD`.
    pub code: &'static str,
    /// The message, worded like Salesforce's.
    pub message: String,
    /// The fields it concerns, if any.
    pub fields: Vec<String>,
}

impl ApiError {
    /// An error answered with `status`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// A 400 error.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The error, concerning `fields`.
    pub fn with_fields(mut self, fields: Vec<String>) -> Self {
        self.fields = fields;
        self
    }

    /// 404 NOT_FOUND for a record or resource that does not exist.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    }

    /// 404 NOT_FOUND for an object name no object has.
    pub fn unknown_object(name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!(
                "The requested resource does not exist: sObject type '{name}' is not supported."
            ),
        )
    }

    /// The error as a REST error entry.
    pub fn to_json(&self) -> Value {
        let mut entry = json!({ "message": self.message, "errorCode": self.code });
        if !self.fields.is_empty() {
            entry["fields"] = json!(self.fields);
        }
        entry
    }

    /// The error as an entry of a save result's `errors`.
    pub fn to_save_error(&self) -> Value {
        json!({ "statusCode": self.code, "message": self.message, "fields": self.fields })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!([self.to_json()]))).into_response()
    }
}

/// Several errors answered together (a record that failed more than one
/// check), with the first one's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiErrors(pub Vec<ApiError>);

impl From<ApiError> for ApiErrors {
    fn from(error: ApiError) -> Self {
        Self(vec![error])
    }
}

impl IntoResponse for ApiErrors {
    fn into_response(self) -> Response {
        let status = self
            .0
            .first()
            .map_or(StatusCode::BAD_REQUEST, |error| error.status);
        let body: Vec<Value> = self.0.iter().map(ApiError::to_json).collect();
        (status, axum::Json(Value::Array(body))).into_response()
    }
}
