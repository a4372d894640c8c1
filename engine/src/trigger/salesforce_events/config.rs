//! The Salesforce events trigger's definition.

use serde::{Deserialize, Serialize};

/// The trigger's type, as workflows name it; it also names its state.
pub const KIND: &str = "salesforce_events";

/// The most events a subscription may be owed at once (Salesforce's
/// bound), and the default `batch`.
pub const MAX_EVENTS_BATCH: u16 = 100;

/// `{"salesforce_events": {"topic": "/data/LeadChangeEvent"}}`: change
/// data capture or platform events, received through Salesforce's Pub/Sub
/// API as they happen, one run per event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesforceEventsTrigger {
    /// The topic: `/data/<Object>ChangeEvent` (one object's changes),
    /// `/data/ChangeEvents` (every selected object's), `/event/<Name>__e` (a
    /// platform event), or a custom channel (`/data/<Name>__chn`,
    /// `/event/<Name>__chn`).
    pub topic: String,
    /// Where the first subscription starts: `"latest"` (default), only
    /// events from now on; `"earliest"`, every event Salesforce still keeps
    /// (72 hours). Afterwards it resumes after the last event stored.
    #[serde(default)]
    pub start: EventStart,
    /// How many events may be received and not yet stored at once (1 to
    /// 100, default 100); more are asked for as events are stored.
    #[serde(default = "default_batch")]
    #[schemars(range(min = 1, max = 100))]
    pub batch: u16,
    /// What to do when Salesforce refuses the stored position (a replay id
    /// older than the events it keeps, or unknown): start again from the
    /// `"earliest"` event it keeps (default; events already received are
    /// not run twice), from the `"latest"`, or `"stop"` until the workflow
    /// is changed or the server restarts. Whichever, it is reported in the
    /// trigger's status.
    #[serde(default)]
    pub on_lost_position: OnLostPosition,
}

fn default_batch() -> u16 {
    MAX_EVENTS_BATCH
}

/// Where a first subscription starts.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventStart {
    /// After the newest event.
    #[default]
    Latest,
    /// At the oldest event kept.
    Earliest,
}

/// What the trigger does when its stored position is refused.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnLostPosition {
    /// Start again from the oldest event kept.
    #[default]
    Earliest,
    /// Start again after the newest event.
    Latest,
    /// Stop, until the workflow changes or the server restarts.
    Stop,
}

impl OnLostPosition {
    /// The policy as the workflow names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Earliest => "earliest",
            Self::Latest => "latest",
            Self::Stop => "stop",
        }
    }
}
