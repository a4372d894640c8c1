//! What starts a run. The set of triggers is fixed, so the definition uses an
//! externally tagged enum: `{"webhook": {...}}`.

pub use gust_salesforce::SecretRef;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The trigger of a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// `{"webhook": {}}`: an HTTP POST to `/hooks/{workflow_id}`.
    Webhook(WebhookTrigger),
    /// `{"outbound_message": {"organization_ids": ["00D..."], "sobject": "Opportunity"}}`:
    /// Salesforce Outbound Messages posted to `/salesforce/outbound/{workflow_id}`.
    OutboundMessage(OutboundMessageTrigger),
    /// `{"schedule": {"cron": "0 */15 * * * *"}}`: a cron schedule.
    Schedule(ScheduleTrigger),
    /// `{"salesforce_poll": {"sobject": "Lead", "on": "created"}}`: records
    /// created, updated or deleted in Salesforce, read by polling.
    SalesforcePoll(SalesforcePollTrigger),
    /// `{"manual": {}}`: only started by hand (`gust run`, the admin API).
    Manual(ManualTrigger),
}

impl Trigger {
    /// The trigger's type, as the workflow names it: `webhook`,
    /// `outbound_message`, `schedule`, `salesforce_poll` or `manual`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook(_) => "webhook",
            Self::OutboundMessage(_) => "outbound_message",
            Self::Schedule(_) => "schedule",
            Self::SalesforcePoll(_) => "salesforce_poll",
            Self::Manual(_) => "manual",
        }
    }

    /// The path a caller posts to start workflow `workflow_id`, for the
    /// triggers that take requests; a token the URL must hold is shown as
    /// `{token}`.
    pub fn path(&self, workflow_id: &str) -> Option<String> {
        match self {
            Self::Webhook(_) => Some(format!("/hooks/{workflow_id}")),
            Self::OutboundMessage(outbound) => Some(match outbound.token {
                Some(_) => format!("/salesforce/outbound/{workflow_id}/{{token}}"),
                None => format!("/salesforce/outbound/{workflow_id}"),
            }),
            Self::Schedule(_) | Self::SalesforcePoll(_) | Self::Manual(_) => None,
        }
    }

    /// How a trigger without a [`Trigger::path`] starts runs, in a few
    /// words: `cron 0 0 2 * * * Europe/Paris`, `poll Lead updated, every
    /// 0 */5 * * * * UTC`, `manual`.
    pub fn summary(&self) -> Option<String> {
        match self {
            Self::Webhook(_) | Self::OutboundMessage(_) => None,
            Self::Schedule(schedule) => Some(format!(
                "cron {} {}",
                schedule.cron,
                schedule.timezone.as_deref().unwrap_or("UTC")
            )),
            Self::SalesforcePoll(poll) => Some(format!(
                "poll {} {}, every {} UTC",
                poll.sobject,
                poll.on.as_str(),
                poll.every
            )),
            Self::Manual(_) => Some("manual".to_owned()),
        }
    }
}

/// How a webhook answers its caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Respond {
    /// 202 with the run id, as soon as the event is durably stored.
    #[default]
    Accepted,
    /// Wait for the run and answer with the final step's output.
    Sync,
}

/// `{"webhook": {"secret": "env:LEADS_SECRET", "respond": "accepted"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTrigger {
    /// `"secret": "env:LEADS_SECRET"`: callers must send `Authorization: Bearer <secret>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretRef>,
    /// `"hmac_secret": "env:SIGNING_KEY"`: callers must sign the body with
    /// HMAC-SHA256 in the `X-Gust-Signature` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_secret: Option<SecretRef>,
    /// `"respond": "accepted"` (default) or `"sync"`.
    #[serde(default)]
    pub respond: Respond,
}

/// `{"outbound_message": {"organization_ids": ["00D..."], "sobject": "Opportunity"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundMessageTrigger {
    /// `"organization_ids": ["00D5g000004EXAMPLE"]`: the orgs allowed to
    /// post (15 or 18 characters; compared on the first 15).
    pub organization_ids: Vec<String>,
    /// `"sobject": "Opportunity"`: the sObject type the messages carry.
    pub sobject: String,
    /// `"token": "env:OM_TOKEN"`: Salesforce must post to
    /// `/salesforce/outbound/{workflow_id}/{token}`, a URL only the org's
    /// outbound message definition knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<SecretRef>,
    /// `"require_session": true`: a message must carry a SessionId ("Send
    /// Session ID" on), and the connection's instance must confirm that it
    /// is a live session of the sending org before anything is stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_session: bool,
}

/// What a schedule does about fires missed while Gust was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedFires {
    /// Skip them; fire next at the next scheduled time.
    #[default]
    Skip,
    /// Run each missed fire, up to a bound.
    CatchUp,
}

/// The bound of a `catch_up` schedule when the workflow sets none: at most
/// this many fires missed while Gust was down run when it starts again.
pub const DEFAULT_MAX_CATCH_UP: u32 = 10;

/// `{"schedule": {"cron": "0 */15 * * * *", "timezone": "Europe/Paris"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTrigger {
    /// `"cron": "0 */15 * * * *"`: seconds, minutes, hours, day of month,
    /// month, day of week, and an optional year.
    pub cron: String,
    /// `"timezone": "Europe/Paris"`: an IANA time zone; UTC by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `"missed": "skip"` (default) or `"catch_up"`.
    #[serde(default)]
    pub missed: MissedFires,
    /// `"max_catch_up": 10`: with `catch_up`, the most fires missed while
    /// down that run on start (the latest ones); the default is 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_catch_up: Option<u32>,
}

/// Which change to records a poll reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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

impl TryFrom<String> for Backfill {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "none" => Ok(Self::None),
            "all" => Ok(Self::All),
            _ => DateTime::parse_from_rfc3339(&text)
                .map(|since| Self::Since(since.with_timezone(&Utc)))
                .map_err(|_| {
                    format!(
                        "`{text}` is not `all`, `none` or an RFC 3339 time such as `2026-01-01T00:00:00Z`"
                    )
                }),
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    pub overlap: Duration,
}

fn default_poll_every() -> String {
    DEFAULT_POLL_EVERY.to_owned()
}

fn default_poll_overlap() -> Duration {
    DEFAULT_POLL_OVERLAP
}

/// `{"manual": {}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualTrigger {}
