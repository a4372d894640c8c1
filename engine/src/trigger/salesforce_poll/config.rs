//! The Salesforce poll trigger's definition.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The trigger's type, as workflows name it; it also names its state.
pub const KIND: &str = "salesforce_poll";

/// Which change to records a poll reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordChange {
    /// New records, in `CreatedDate` order.
    Created,
    /// Every save of a record, its creation included, in `SystemModstamp`
    /// order.
    Updated,
    /// Deleted records (in the recycle bin), through queryAll.
    Deleted,
}

impl RecordChange {
    /// The change as the workflow names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }

    /// The field the poll orders and resumes by.
    pub fn stamp_field(self) -> &'static str {
        match self {
            Self::Created => "CreatedDate",
            Self::Updated | Self::Deleted => "SystemModstamp",
        }
    }
}

/// Which records that existed before a poll was first activated it reports.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
pub enum Backfill {
    /// `"none"` (default): none; only changes from then on.
    #[default]
    None,
    /// `"all"`: every record, oldest first.
    All,
    /// `"2026-01-01T00:00:00Z"`: the records whose stamp is at or after
    /// this time.
    Since(DateTime<Utc>),
}

/// A `backfill` that is not `none`, `all` or a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not `all`, `none` or an RFC 3339 time such as `2026-01-01T00:00:00Z`")]
pub struct InvalidBackfill(String);

impl TryFrom<String> for Backfill {
    type Error = InvalidBackfill;

    fn try_from(text: String) -> Result<Self, InvalidBackfill> {
        match text.as_str() {
            "none" => Ok(Self::None),
            "all" => Ok(Self::All),
            _ => DateTime::parse_from_rfc3339(&text)
                .map(|since| Self::Since(since.with_timezone(&Utc)))
                .map_err(|_| InvalidBackfill(text)),
        }
    }
}

impl From<Backfill> for String {
    fn from(backfill: Backfill) -> String {
        match backfill {
            Backfill::None => "none".to_owned(),
            Backfill::All => "all".to_owned(),
            Backfill::Since(since) => since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }
}

/// The default `every` of a poll: every five minutes.
pub const DEFAULT_POLL_EVERY: &str = "0 */5 * * * *";
/// The default `overlap` of a poll.
pub const DEFAULT_POLL_OVERLAP: Duration = Duration::from_secs(60);
/// The largest `batch_size`: one page of a query.
pub const MAX_POLL_BATCH: usize = 2000;

/// `{"salesforce_poll": {"sobject": "Lead", "on": "created", "fields": ["Email"],
/// "where": "LeadSource = 'Web'", "every": "0 */5 * * * *", "backfill": "none"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesforcePollTrigger {
    /// `"sobject": "Lead"`: the object polled.
    pub sobject: String,
    /// `"on": "created"`, `"updated"` or `"deleted"`.
    pub on: RecordChange,
    /// `"fields": ["Email", "Company"]`: the fields each record carries,
    /// besides `Id` and the stamp field, which it always has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// `"where": "LeadSource = 'Web'"`: a SOQL condition records must meet.
    #[serde(default, rename = "where", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `"every": "0 */5 * * * *"`: when to poll, a cron expression (UTC).
    #[serde(default = "default_poll_every")]
    pub every: String,
    /// `"backfill": "none"` (default), `"all"` or a time.
    #[serde(default)]
    pub backfill: Backfill,
    /// `"batch_size": 200`: up to this many records per event (as
    /// `records`); without it, one event per record (as `record`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// `"overlap": "60s"`: how far before the previous poll each poll reads
    /// again, for records saved by transactions still open then (their stamp
    /// is older than their commit). Records already reported are not
    /// reported again. It should cover the longest transaction and the
    /// clock difference with Salesforce.
    #[serde(default = "default_poll_overlap", with = "humantime_serde")]
    #[schemars(with = "String")]
    pub overlap: Duration,
    /// `"jitter": "30s"`: in an installed workflow, each installation
    /// polls at its own fixed point of this window after each time of
    /// `every` (30 seconds when absent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    #[schemars(with = "Option<String>")]
    pub jitter: Option<Duration>,
}

fn default_poll_every() -> String {
    DEFAULT_POLL_EVERY.to_owned()
}

fn default_poll_overlap() -> Duration {
    DEFAULT_POLL_OVERLAP
}
