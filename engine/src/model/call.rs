//! A Salesforce call a step attempt made, as its run keeps it: what was
//! asked, a digest of the arguments, and what Salesforce answered; and the
//! call journal's entry, which keeps the answer itself so that a step run
//! again gets it back instead of calling Salesforce twice.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::step::millis;

/// One Salesforce call of a step attempt. Arguments are kept only as a
/// digest: no record, query or access token is stored here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesforceCall {
    /// Its place among the step's calls, from 1.
    pub sequence: u32,
    /// What it did.
    pub operation: CallOperation,
    /// The sObject it named, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sobject: Option<String>,
    /// The record ids (or external ids) it named or was answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub record_ids: Vec<String>,
    /// A SHA-256 digest (hex) of its operation and arguments, to match it
    /// on re-execution.
    pub digest: String,
    /// When it was sent (or replayed).
    pub started_at: DateTime<Utc>,
    /// How long it took: Salesforce's answer, or reading it from the
    /// journal when replayed.
    #[serde(rename = "duration_ms", with = "millis")]
    pub duration: Duration,
    /// What it came to.
    pub outcome: CallOutcome,
    /// Whether its answer came from the journal, nothing being sent.
    #[serde(default)]
    pub replayed: bool,
}

/// The Salesforce actions a step can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallOperation {
    /// A SOQL query.
    Query,
    /// A SOQL query that includes deleted records.
    QueryAll,
    /// A record read by Id.
    Get,
    /// A describe of an sObject.
    Describe,
    /// A record created.
    Create,
    /// A record updated.
    Update,
    /// A record created or updated by an external id.
    Upsert,
    /// A record deleted.
    Delete,
    /// Many records written at once.
    WriteMany,
    /// A raw REST request.
    Request,
}

impl CallOperation {
    /// The operation's name, as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::QueryAll => "query_all",
            Self::Get => "get",
            Self::Describe => "describe",
            Self::Create => "create",
            Self::Update => "update",
            Self::Upsert => "upsert",
            Self::Delete => "delete",
            Self::WriteMany => "write_many",
            Self::Request => "request",
        }
    }
}

impl std::fmt::Display for CallOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a Salesforce call came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CallOutcome {
    /// Sent, and no answer stored: the process stopped while it was in
    /// flight, so whether Salesforce carried it out is unknown.
    InFlight,
    /// Salesforce answered with success.
    Succeeded {
        /// The HTTP status Salesforce answers the operation with.
        status: u16,
        /// The answer's size in bytes.
        bytes: usize,
    },
    /// Salesforce (or the way to it) answered with an error.
    Failed {
        /// The HTTP status, 0 when no answer came.
        status: u16,
        /// Salesforce's `errorCode`, or Gust's `GUST_*` code.
        error_code: String,
        /// The error's message.
        message: String,
    },
}

/// A call as the journal of its run's step keeps it: the call, and what a
/// re-execution of the step needs to answer it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The call.
    #[serde(flatten)]
    pub call: SalesforceCall,
    /// The answer as JSON text, once answered; a read's answer over the
    /// size kept is not (it is read again on re-execution).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The Bulk API 2.0 job a write-many opened, as soon as it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_job: Option<String>,
}
