//! The bodies of the runs API and of the answers about a run.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{RunId, RunRecord, RunStatus};

/// `202` to an event: the run it was stored as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventAccepted {
    /// The run.
    pub run_id: RunId,
    /// Its status when answered.
    pub status: RunStatus,
    /// Whether the event's dedupe key named a run already stored.
    pub duplicate: bool,
}

/// The body of `POST /api/workflows/{id}/runs`, which starts a run by hand:
/// `{"event": ...}` (the whole event), `{"body": ...}` (made into the event
/// the trigger makes, as `gust run --body` does), or empty (the trigger's
/// event without a body: a schedule's fire now, `{}` for `manual`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The whole event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Value>,
    /// The body the trigger makes its event around.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// `502` to a `"respond": "sync"` webhook whose run failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailed {
    /// Why the run failed.
    pub error: String,
    /// The run.
    pub run_id: RunId,
    /// Whether the event's dedupe key named a run already stored.
    pub duplicate: bool,
}

/// `GET /api/runs`: one page of runs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunList {
    /// The runs.
    pub runs: Vec<RunRecord>,
    /// The `cursor` of the next page, if there is one.
    pub next_cursor: Option<RunId>,
}

/// The query of `GET /api/runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunListParams {
    /// Only this workflow's runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// Only this tenant's runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Only this installation's runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation: Option<String>,
    /// Only runs with this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// At most this many (1 to 1000; 50 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The query of `POST /api/runs/{id}/replay`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayParams {
    /// Resume the failed run at its failed step, with its Salesforce call
    /// journal, instead of starting a new run (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<bool>,
}

/// `202` to `POST /api/runs/{id}/replay`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replayed {
    /// The run that runs now: a new one, or the resumed one itself.
    pub run_id: RunId,
    /// The run it replays.
    pub replay_of: RunId,
    /// Whether the failed run was resumed rather than replayed anew.
    #[serde(default)]
    pub resumed: bool,
}
