//! What steps call Salesforce through.
//!
//! [`SalesforceApi`] is the set of actions of the `gust:step/salesforce`
//! interface. The host checks a step's permissions before calling it, so an
//! implementation only talks to Salesforce. [`Client`] implements it for a
//! [`Connection`] (REST, sObject Collections, composite, Bulk API 2.0, with
//! token refresh, retries and the API budget); [`NoConnection`] answers
//! every call with `GUST_NO_CONNECTION`.

mod api;
mod auth;
mod bulk;
mod client;
mod collections;
mod error;
mod jwt;
mod query;
mod records;
mod settings;
pub mod soql;
mod usage;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use bulk::{BulkPage, BulkQueryPages};
pub use client::{Client, ConnectionStats};
pub use collections::COLLECTION_SIZE;
pub use error::SalesforceError;
pub use query::QueryPages;
pub use records::MAX_COMPOSITE_SUBREQUESTS;
pub use settings::{
    Auth, AuthMethod, Connection, ConnectionSettings, DEFAULT_API_LIMIT_SHARE, DEFAULT_API_VERSION,
    DEFAULT_BULK_THRESHOLD, DEFAULT_LOGIN_URL, RetryPolicy, Secret, SecretSetting,
};
pub use usage::{ApiUsageSnapshot, parse_limit_info};

/// The Salesforce result of an action.
pub type Result<T, E = SalesforceError> = std::result::Result<T, E>;

/// The result of an upsert by external id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upserted {
    /// The record's Id.
    pub id: String,
    /// Whether the record was created (rather than updated).
    pub created: bool,
}

/// The operation of a bulk write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteOperation {
    /// Create records.
    Insert,
    /// Update records by Id.
    Update,
    /// Create or update records by an external id field.
    Upsert,
    /// Delete records by Id.
    Delete,
}

/// Options of a bulk write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOptions {
    /// The external id field, for upserts.
    pub external_id_field: Option<String>,
    /// Roll back every record when one fails.
    pub all_or_none: bool,
}

/// The Salesforce actions a step can call.
#[async_trait]
pub trait SalesforceApi: Send + Sync + std::fmt::Debug {
    /// Runs a SOQL query and returns the records of every page as one JSON
    /// array of at most `max_bytes` bytes; `include_deleted` uses queryAll.
    async fn query(&self, soql: &str, include_deleted: bool, max_bytes: usize) -> Result<String>;
    /// Reads one record; an empty `fields` reads every field.
    async fn get(&self, sobject: &str, id: &str, fields: &[String]) -> Result<Value>;
    /// Creates a record and returns its Id.
    async fn create(&self, sobject: &str, record: Value) -> Result<String>;
    /// Updates a record.
    async fn update(&self, sobject: &str, id: &str, record: Value) -> Result<()>;
    /// Creates or updates the record with this external id.
    async fn upsert(
        &self,
        sobject: &str,
        external_id_field: &str,
        external_id: &str,
        record: Value,
    ) -> Result<Upserted>;
    /// Deletes a record.
    async fn delete(&self, sobject: &str, id: &str) -> Result<()>;
    /// Writes many records; one result per record, in input order.
    async fn write_many(
        &self,
        operation: WriteOperation,
        sobject: &str,
        records: Vec<Value>,
        options: WriteOptions,
    ) -> Result<Vec<Value>>;
    /// Describes an sObject.
    async fn describe(&self, sobject: &str) -> Result<Arc<Value>>;
    /// A raw REST request on the instance; `Value::Null` for an empty body.
    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value>;
    /// The id of the org a session id (such as an Outbound Message's
    /// SessionId) belongs to, asked from the connection's instance; an error
    /// when Salesforce does not take the session. Not a step action: the
    /// Outbound Message trigger checks senders with it. Without a
    /// connection, `GUST_NO_CONNECTION`.
    async fn session_organization(&self, _session_id: &str) -> Result<String> {
        Err(SalesforceError::no_connection())
    }
    /// The `totalSize` of `soql` (a `SELECT COUNT() ...`); `include_deleted`
    /// uses queryAll. Not a step action: the Salesforce poll trigger sizes
    /// its backfill with it. Without a connection, `GUST_NO_CONNECTION`.
    async fn count(&self, _soql: &str, _include_deleted: bool) -> Result<u64> {
        Err(SalesforceError::no_connection())
    }
    /// Starts a Bulk API 2.0 query job, waits for it and returns its path.
    /// Not a step action: the Salesforce poll trigger backfills with it.
    /// Without a connection, `GUST_NO_CONNECTION`.
    async fn start_bulk_query(&self, _soql: &str, _include_deleted: bool) -> Result<String> {
        Err(SalesforceError::no_connection())
    }
    /// The page at `locator` of the query job at `job_path`. Not a step
    /// action. Without a connection, `GUST_NO_CONNECTION`.
    async fn bulk_query_page(&self, _job_path: &str, _locator: Option<&str>) -> Result<BulkPage> {
        Err(SalesforceError::no_connection())
    }
    /// What the connection has done, for `/metrics`; `None` without one.
    fn stats(&self) -> Option<ConnectionStats> {
        None
    }
}

/// The connection used when none is configured: every call fails with
/// `GUST_NO_CONNECTION`, and no request is sent anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConnection;

#[async_trait]
impl SalesforceApi for NoConnection {
    async fn query(&self, _: &str, _: bool, _: usize) -> Result<String> {
        Err(SalesforceError::no_connection())
    }
    async fn get(&self, _: &str, _: &str, _: &[String]) -> Result<Value> {
        Err(SalesforceError::no_connection())
    }
    async fn create(&self, _: &str, _: Value) -> Result<String> {
        Err(SalesforceError::no_connection())
    }
    async fn update(&self, _: &str, _: &str, _: Value) -> Result<()> {
        Err(SalesforceError::no_connection())
    }
    async fn upsert(&self, _: &str, _: &str, _: &str, _: Value) -> Result<Upserted> {
        Err(SalesforceError::no_connection())
    }
    async fn delete(&self, _: &str, _: &str) -> Result<()> {
        Err(SalesforceError::no_connection())
    }
    async fn write_many(
        &self,
        _: WriteOperation,
        _: &str,
        _: Vec<Value>,
        _: WriteOptions,
    ) -> Result<Vec<Value>> {
        Err(SalesforceError::no_connection())
    }
    async fn describe(&self, _: &str) -> Result<Arc<Value>> {
        Err(SalesforceError::no_connection())
    }
    async fn request(&self, _: &str, _: &str, _: Option<Value>) -> Result<Value> {
        Err(SalesforceError::no_connection())
    }
}
