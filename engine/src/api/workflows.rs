//! The body of `GET /api/workflows`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /api/workflows`: every loaded workflow, and the files that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowList {
    /// The workflows, ready ones first.
    pub workflows: Vec<WorkflowView>,
}

/// A workflow as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum WorkflowView {
    /// Loaded and running.
    Ready(Box<ReadyWorkflow>),
    /// A file that failed to load.
    Invalid(InvalidWorkflowView),
}

/// A loaded workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadyWorkflow {
    /// Its id.
    pub id: String,
    /// Its description.
    pub description: Option<String>,
    /// What starts it.
    pub trigger: TriggerView,
    /// The full URLs a caller posts to, for request triggers.
    pub urls: Vec<String>,
    /// What its background trigger is doing, for schedules and polls.
    pub timer: Option<TriggerStatus>,
    /// Its step ids, in order.
    pub steps: Vec<String>,
}

/// A workflow's trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerView {
    /// `webhook`, `outbound_message`, `schedule`, `salesforce_poll` or
    /// `manual`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The trigger as the workflow defines it.
    pub definition: Value,
    /// How a trigger without a URL starts runs, in a few words.
    pub summary: Option<String>,
}

/// A workflow file that failed to load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidWorkflowView {
    /// The file.
    pub source: PathBuf,
    /// Every problem found.
    pub errors: Vec<String>,
}

/// What a background trigger (a schedule, a poll) is doing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggerStatus {
    /// When it fires (or polls) next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_fire_at: Option<DateTime<Utc>>,
    /// When it last fired (or polled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fired_at: Option<DateTime<Utc>>,
    /// Why its last attempt failed, until one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A poll's stored position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Value>,
    /// What a trigger wants noticed beyond its last error, such as a
    /// Salesforce events subscription that lost its position and what it
    /// did about it. It stays until the server restarts or the trigger
    /// changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// A poll's Bulk API 2.0 backfill, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillProgress>,
}

/// How far a poll's backfill is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillProgress {
    /// Records read so far.
    pub read: u64,
    /// Records to read in all: as counted when the backfill started, or
    /// as many as read when records written since took it past that.
    pub total: u64,
}
