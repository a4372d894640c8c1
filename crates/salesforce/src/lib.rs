//! # gust-salesforce: a Salesforce client for Gust, usable on its own
//!
//! [`Client`] talks to one org through a [`Connection`]: OAuth (refresh
//! token, client credentials, JWT bearer, or a fixed access token) with
//! token refresh, REST, sObject Collections, composite, Bulk API 2.0,
//! retries with backoff, the `Sforce-Limit-Info` API budget, and typed
//! errors that keep Salesforce's `errorCode` ([`SalesforceError`]).
//!
//! Two traits say what a caller may do with a connection:
//! - [`SalesforceActions`]: the actions of the `gust:step/salesforce`
//!   interface, what a step may call (a test fake implements only these);
//! - [`SalesforceService`]: those and what triggers need besides (session
//!   checks, counts, Bulk query pages, statistics).
//!
//! [`NoConnection`] answers every call with `GUST_NO_CONNECTION`.
//! [`access::check_reads`] reads which objects a SOQL query touches, to
//! check it against a step's grants before it is sent.

pub mod access;
mod api;
mod auth;
mod backoff;
mod bulk;
#[cfg(fuzzing)]
pub use bulk::fuzzing;
mod client;
mod collections;
mod error;
mod jwt;
mod query;
mod records;
mod secret;
mod settings;
pub mod soql;
mod usage;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use auth::{StartingToken, TokenGrant, TokenListener, token_lifetime};
pub use backoff::backoff;
pub use bulk::{BulkJobs, BulkPage, BulkQueryPages, Untracked};
pub use client::{Client, ClientError, ConnectionStats};
pub use collections::COLLECTION_SIZE;
pub use error::SalesforceError;
pub use jwt::KeyError;
pub use query::{QueryPages, without_attributes};
pub use records::MAX_COMPOSITE_SUBREQUESTS;
pub use secret::{InvalidSecretRef, SecretError, SecretRef};
pub use settings::{
    Auth, AuthMethod, CallRetryPolicy, ConfigError, Connection, ConnectionSettings,
    DEFAULT_API_LIMIT_SHARE, DEFAULT_API_VERSION, DEFAULT_BULK_THRESHOLD, DEFAULT_LOGIN_URL,
    Secret, SecretSetting,
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
pub trait SalesforceActions: Send + Sync + std::fmt::Debug {
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
    /// Writes many records; one result per record, in input order. A Bulk
    /// API 2.0 job it opens is told to `jobs`, and one `jobs` names from an
    /// earlier execution is followed instead of opening another.
    async fn write_many(
        &self,
        operation: WriteOperation,
        sobject: &str,
        records: Vec<Value>,
        options: WriteOptions,
        jobs: &dyn BulkJobs,
    ) -> Result<Vec<Value>>;
    /// Describes an sObject.
    async fn describe(&self, sobject: &str) -> Result<Arc<Value>>;
    /// A raw REST request on the instance; `Value::Null` for an empty body.
    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value>;
}

/// What Gust's triggers and metrics use a connection for besides the step
/// actions.
#[async_trait]
pub trait SalesforceService: SalesforceActions {
    /// The id of the org a session id (such as an Outbound Message's
    /// SessionId) belongs to, asked from the connection's instance; an error
    /// when Salesforce does not take the session. The Outbound Message
    /// trigger checks senders with it.
    async fn session_organization(&self, session_id: &str) -> Result<String>;
    /// The `totalSize` of `soql` (a `SELECT COUNT() ...`); `include_deleted`
    /// uses queryAll. The Salesforce poll trigger sizes its backfill with it.
    async fn count(&self, soql: &str, include_deleted: bool) -> Result<u64>;
    /// Starts a Bulk API 2.0 query job, waits for it and returns its path.
    /// The Salesforce poll trigger backfills with it.
    async fn start_bulk_query(&self, soql: &str, include_deleted: bool) -> Result<String>;
    /// The page at `locator` of the query job at `job_path`.
    async fn bulk_query_page(&self, job_path: &str, locator: Option<&str>) -> Result<BulkPage>;
    /// What the connection has done, for `/metrics`; `None` without one.
    fn stats(&self) -> Option<ConnectionStats>;
    /// The connection's session as the Pub/Sub API takes it (its access
    /// token, instance and org); `renew` fetches a new token first, as
    /// after the Pub/Sub API refused the last. The Salesforce events
    /// trigger subscribes with it.
    async fn session(&self, renew: bool) -> Result<Session>;
}

/// A session of a connection: what authenticates a Pub/Sub API call.
#[derive(Debug, Clone)]
pub struct Session {
    /// The access token.
    pub access_token: Secret,
    /// The instance URL.
    pub instance_url: String,
    /// The org's id.
    pub organization_id: String,
}

/// The connection used when none is configured: every call fails with
/// `GUST_NO_CONNECTION`, and no request is sent anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConnection;

#[async_trait]
impl SalesforceActions for NoConnection {
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
        _: &dyn BulkJobs,
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

#[async_trait]
impl SalesforceService for NoConnection {
    async fn session_organization(&self, _: &str) -> Result<String> {
        Err(SalesforceError::no_connection())
    }
    async fn count(&self, _: &str, _: bool) -> Result<u64> {
        Err(SalesforceError::no_connection())
    }
    async fn start_bulk_query(&self, _: &str, _: bool) -> Result<String> {
        Err(SalesforceError::no_connection())
    }
    async fn bulk_query_page(&self, _: &str, _: Option<&str>) -> Result<BulkPage> {
        Err(SalesforceError::no_connection())
    }
    fn stats(&self) -> Option<ConnectionStats> {
        None
    }
    async fn session(&self, _: bool) -> Result<Session> {
        Err(SalesforceError::no_connection())
    }
}
