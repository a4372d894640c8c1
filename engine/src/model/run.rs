//! A run as stored: its id, status and timestamps.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::InstallationId;

/// A run's id: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(uuid::Uuid);

impl RunId {
    /// A new id, later than every id made before it in this process.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// The id's 16 bytes, which sort as the ids do.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The first id a run accepted at `time` can have (to the millisecond):
    /// ids from it on are of runs accepted at `time` or later.
    pub fn first_at(time: DateTime<Utc>) -> Self {
        let millis = u64::try_from(time.timestamp_millis()).unwrap_or(0);
        Self(uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid())
    }

    /// The id held in 16 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        uuid::Uuid::from_slice(bytes).ok().map(Self)
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A text is not a run id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a run id")]
pub struct InvalidRunId(String);

impl FromStr for RunId {
    type Err = InvalidRunId;

    fn from_str(text: &str) -> Result<Self, InvalidRunId> {
        uuid::Uuid::parse_str(text)
            .map(Self)
            .map_err(|_| InvalidRunId(text.to_owned()))
    }
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Stored, waiting for a worker.
    Queued,
    /// A worker is running its steps.
    Running,
    /// A step failed and its next attempt is due at `due_at`.
    Retrying,
    /// Every step succeeded, or a step ended the run early.
    Succeeded,
    /// A step failed on its last attempt: the dead-letter list.
    Failed,
}

impl RunStatus {
    /// Every status.
    pub const ALL: [RunStatus; 5] = [
        Self::Queued,
        Self::Running,
        Self::Retrying,
        Self::Succeeded,
        Self::Failed,
    ];

    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }

    /// The status's name, as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// A text is not a run status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a run status (queued, running, retrying, succeeded, failed)")]
pub struct InvalidRunStatus(String);

impl FromStr for RunStatus {
    type Err = InvalidRunStatus;

    fn from_str(text: &str) -> Result<Self, InvalidRunStatus> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| InvalidRunStatus(text.to_owned()))
    }
}

/// A run as stored: everything but its event and its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// The workflow it runs.
    pub workflow: String,
    /// The tenant whose installation it runs for, if it runs for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The installation it runs for, if it runs for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation: Option<InstallationId>,
    /// Where it is.
    pub status: RunStatus,
    /// When its event was accepted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it is next due to run, while it is queued, running or retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The key that dedupes its event (an `Idempotency-Key`), if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe_key: Option<String>,
    /// The run it replays, if it is a replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<RunId>,
    /// For a failed run: the replay that later succeeded, which takes it
    /// off the failed list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_by: Option<RunId>,
    /// The output of its last step, once it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The step that ended it early, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    /// Why it failed, once it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunRecord {
    /// A queued run of `workflow`, due now.
    pub fn queued(id: RunId, workflow: &str) -> Self {
        let now = now();
        Self {
            id,
            workflow: workflow.to_owned(),
            tenant: None,
            installation: None,
            status: RunStatus::Queued,
            created_at: now,
            updated_at: now,
            due_at: Some(now),
            finished_at: None,
            dedupe_key: None,
            replay_of: None,
            replayed_by: None,
            output: None,
            stopped_by: None,
            error: None,
        }
    }
}

impl RunRecord {
    /// The run's lane: its workflow id, or `workflow/installation` for a
    /// run of an installation. Dedupe keys are unique within a lane, and
    /// the dispatch queue serves lanes in turn.
    pub fn lane(&self) -> String {
        lane(&self.workflow, self.installation.as_ref())
    }
}

/// The lane of runs of `workflow` for `installation` (see
/// [`RunRecord::lane`]).
pub fn lane(workflow: &str, installation: Option<&InstallationId>) -> String {
    match installation {
        Some(installation) => format!("{workflow}/{installation}"),
        None => workflow.to_owned(),
    }
}

/// The workflow and installation of a lane (see [`RunRecord::lane`]).
pub fn split_lane(lane: &str) -> (&str, Option<InstallationId>) {
    match lane.split_once('/') {
        Some((workflow, installation)) => (workflow, InstallationId::parse(installation)),
        None => (lane, None),
    }
}

/// The time now, to the millisecond (the store's precision).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_id_at_a_time_sorts_before_the_ids_made_from_then_on() {
        let before = RunId::first_at(now() - chrono::TimeDelta::milliseconds(1));
        let id = RunId::new();
        let after = RunId::first_at(now() + chrono::TimeDelta::seconds(1));
        assert!(before < id && id < after, "{before} {id} {after}");
    }
}
