//! Salesforce actions on the workflow's connection.
//!
//! Every call goes through the host, which checks it against the permissions
//! the workflow grants the step before any request reaches Salesforce:
//!
//! ```json
//! "permissions": { "salesforce": { "read": ["Lead"], "write": ["Lead"], "delete": [], "request": false } }
//! ```
//!
//! Records are [`Value`]s in Salesforce's own JSON shape, and errors keep
//! Salesforce's `errorCode`.

use std::fmt;

use crate::Value;
use crate::bindings::gust::step::salesforce as host;
use crate::bindings::gust::step::types::{self, SfError};

/// An error answered by Salesforce, or by Gust on its behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesforceError {
    /// The HTTP status; 0 when no request was sent.
    pub status: u16,
    /// Salesforce's `errorCode` (`INVALID_FIELD`, `UNABLE_TO_LOCK_ROW`, ...),
    /// or Gust's own `GUST_PERMISSION_DENIED`, `GUST_OUTCOME_UNKNOWN`,
    /// `GUST_NO_CONNECTION` or `GUST_INVALID_RESPONSE` (see [`ErrorKind`]).
    pub error_code: String,
    /// The human-readable message.
    pub message: String,
    /// The fields the error is about, if any.
    pub fields: Vec<String>,
    /// Whether the same call may succeed later, as the host judged it.
    pub retryable: bool,
}

/// What kind of error a [`SalesforceError`] is, for the ones a step acts
/// on; the `error_code` tells the rest apart.
///
/// A write whose outcome is unknown, checked before it is made again (the
/// README's example):
///
/// ```no_run
/// use gust_sdk::salesforce::{self, SalesforceError};
/// use gust_sdk::{ErrorKind, Value, json};
///
/// fn create_once(lead: &Value, email: &str) -> Result<Value, SalesforceError> {
///     match salesforce::create("Lead", lead) {
///         Ok(id) => Ok(json!(id)),
///         Err(error) if error.kind() == ErrorKind::OutcomeUnknown => {
///             let found = salesforce::query_with(
///                 "SELECT Id FROM Lead WHERE Email = :email",
///                 &json!({ "email": email }),
///             )?;
///             match found.first() {
///                 Some(lead) => Ok(lead["Id"].clone()),
///                 None => Ok(json!(salesforce::create("Lead", lead)?)),
///             }
///         }
///         Err(error) => Err(error),
///     }
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `GUST_OUTCOME_UNKNOWN`: an earlier execution of this step sent this
    /// write and stopped before its answer was stored, so Salesforce may or
    /// may not have carried it out. Nothing was sent now. Check (query by
    /// an external id) and decide; sending the same write again is refused
    /// the same way, and another write could write twice.
    OutcomeUnknown,
    /// `GUST_PERMISSION_DENIED`: the workflow does not grant the call;
    /// nothing was sent.
    PermissionDenied,
    /// Any other error: Salesforce's own (`errorCode`), or Gust's on its
    /// behalf.
    Other,
}

impl SalesforceError {
    /// Whether the same call may succeed later: row locks, the API request
    /// limit and Salesforce's transient server errors.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        match self.error_code.as_str() {
            "GUST_OUTCOME_UNKNOWN" => ErrorKind::OutcomeUnknown,
            "GUST_PERMISSION_DENIED" => ErrorKind::PermissionDenied,
            _ => ErrorKind::Other,
        }
    }

    fn invalid_response(what: &str, error: serde_json::Error) -> Self {
        Self {
            status: 0,
            error_code: "GUST_INVALID_RESPONSE".to_owned(),
            message: format!("the host answered {what} that is not JSON: {error}"),
            fields: Vec::new(),
            retryable: false,
        }
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

impl std::error::Error for SalesforceError {}

impl From<SfError> for SalesforceError {
    fn from(error: SfError) -> Self {
        Self {
            status: error.status,
            error_code: error.error_code,
            message: error.message,
            fields: error.fields,
            retryable: error.retryable,
        }
    }
}

/// The result of [`upsert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The record's Id.
    pub id: String,
    /// True when the record was created, false when an existing one was updated.
    pub created: bool,
}

/// The operation of [`write_many`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteMany<'a> {
    /// Create every record.
    Insert,
    /// Update every record; each carries its `Id`.
    Update,
    /// Create or update each record by the external id field.
    Upsert {
        /// The external id field, such as `External_Id__c`.
        external_id_field: &'a str,
    },
    /// Delete every record; each carries its `Id`.
    Delete,
}

/// The Salesforce result of this crate's calls.
pub type Result<T, E = SalesforceError> = std::result::Result<T, E>;

fn parse(what: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| SalesforceError::invalid_response(what, e))
}

fn records(what: &str, text: &str) -> Result<Vec<Value>> {
    serde_json::from_str(text).map_err(|e| SalesforceError::invalid_response(what, e))
}

/// Runs a SOQL query and returns the records of every page.
pub fn query(soql: &str) -> Result<Vec<Value>> {
    records("query records", &host::query(soql)?)
}

/// Like [`query`], including deleted and archived records (queryAll).
pub fn query_all(soql: &str) -> Result<Vec<Value>> {
    records("query records", &host::query_all(soql)?)
}

/// Runs a query with named parameters, each value written as the SOQL
/// literal of its type ([`crate::soql::bind`]), never pasted as text:
///
/// ```no_run
/// # use gust_sdk::{json, salesforce};
/// # fn main() -> Result<(), gust_sdk::SalesforceError> {
/// let email = "nobody' OR Name != 'x";
/// let contacts = salesforce::query_with(
///     "SELECT Id FROM Contact WHERE Email = :email",
///     &json!({ "email": email }),
/// )?;
/// # Ok(()) }
/// ```
///
/// A parameter the query lacks, or a value without a literal, fails with
/// `GUST_QUERY_PARAMETERS` before anything is sent.
pub fn query_with(soql: &str, params: &Value) -> Result<Vec<Value>> {
    query(&bound(soql, params)?)
}

/// Like [`query_with`], including deleted and archived records (queryAll).
pub fn query_all_with(soql: &str, params: &Value) -> Result<Vec<Value>> {
    query_all(&bound(soql, params)?)
}

fn bound(soql: &str, params: &Value) -> Result<String> {
    crate::soql::bind(soql, params).map_err(|error| SalesforceError {
        status: 0,
        error_code: "GUST_QUERY_PARAMETERS".to_owned(),
        message: error.to_string(),
        fields: Vec::new(),
        retryable: false,
    })
}

/// Reads one record; an empty `fields` reads every field.
pub fn get(sobject: &str, id: &str, fields: &[&str]) -> Result<Value> {
    let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    parse("a record", &host::get(sobject, id, &fields)?)
}

/// Creates a record and returns its Id.
pub fn create(sobject: &str, record: &Value) -> Result<String> {
    Ok(host::create(sobject, &record.to_string())?)
}

/// Updates the fields present in `record`.
pub fn update(sobject: &str, id: &str, record: &Value) -> Result<()> {
    Ok(host::update(sobject, id, &record.to_string())?)
}

/// Creates or updates the record whose `external_id_field` equals `external_id`.
pub fn upsert(
    sobject: &str,
    external_id_field: &str,
    external_id: &str,
    record: &Value,
) -> Result<Upserted> {
    let types::Upserted { id, created } =
        host::upsert(sobject, external_id_field, external_id, &record.to_string())?;
    Ok(Upserted { id, created })
}

/// Deletes a record.
pub fn delete(sobject: &str, id: &str) -> Result<()> {
    Ok(host::delete(sobject, id)?)
}

/// Writes many records at once: sObject Collections for small batches, Bulk
/// API 2.0 for large ones. Returns one result per record, in input order:
/// `{"id", "success", "created", "errors"}`. With `all_or_none`, one failed
/// record rolls back every record.
pub fn write_many(
    operation: WriteMany<'_>,
    sobject: &str,
    records_to_write: &[Value],
    all_or_none: bool,
) -> Result<Vec<Value>> {
    let (operation, external_id_field) = match operation {
        WriteMany::Insert => (types::WriteOperation::Insert, None),
        WriteMany::Update => (types::WriteOperation::Update, None),
        WriteMany::Upsert { external_id_field } => (
            types::WriteOperation::Upsert,
            Some(external_id_field.to_owned()),
        ),
        WriteMany::Delete => (types::WriteOperation::Delete, None),
    };
    let options = types::WriteOptions {
        external_id_field,
        all_or_none,
    };
    let body = Value::from(records_to_write.to_vec()).to_string();
    records(
        "write results",
        &host::write_many(operation, sobject, &body, &options)?,
    )
}

/// Publishes platform events of `event` (an `__e` object, such as
/// `Order_Placed__e`), through sObject Collections 200 at a time. Returns
/// one result per event, in input order: `{"id", "success", "errors"}`; an
/// event that failed does not stop the others.
pub fn publish(event: &str, events: &[Value]) -> Result<Vec<Value>> {
    let body = Value::from(events.to_vec()).to_string();
    records("publish results", &host::publish(event, &body)?)
}

/// Describes an sObject: its fields, their types and its relationships.
pub fn describe(sobject: &str) -> Result<Value> {
    parse("a describe result", &host::describe(sobject)?)
}

/// Sends a raw REST request to the connection's instance, for anything the
/// typed actions do not cover. `path` starts with `/services/`.
pub fn request(method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let body = body.map(Value::to_string);
    let text = host::request(method, path, body.as_deref())?;
    if text.is_empty() {
        return Ok(Value::Null);
    }
    parse("a response", &text)
}
