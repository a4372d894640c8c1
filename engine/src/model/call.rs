//! A Salesforce call a step attempt made, as its run keeps it: what was
//! asked, a digest of the arguments, and what Salesforce answered.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::step::millis;

/// One Salesforce call of a step attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesforceCall {
    /// Its place among the step's calls, from 1.
    pub sequence: u32,
    /// What it did.
    pub operation: CallOperation,
    /// The sObject it named, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sobject: Option<String>,
    /// The record ids (or external ids) it named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub record_ids: Vec<String>,
    /// A SHA-256 digest (hex) of its arguments, to match it on re-execution.
    pub digest: String,
    /// When it was sent.
    pub started_at: DateTime<Utc>,
    /// How long Salesforce took to answer.
    #[serde(rename = "duration_ms", with = "millis")]
    pub duration: Duration,
    /// What Salesforce answered.
    pub outcome: CallOutcome,
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

/// What a Salesforce call came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CallOutcome {
    /// Salesforce answered with success.
    Succeeded {
        /// The answer as JSON text, unless it was over the size kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
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
