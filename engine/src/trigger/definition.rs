//! What starts a run, as a workflow defines it. The set of triggers is
//! fixed, so the definition is an externally tagged enum,
//! `{"webhook": {...}}`, wrapping each trigger's own config.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::outbound_message::{OutboundMessageTrigger, validate as validate_outbound_message};
use super::salesforce_poll::{KIND as POLL, SalesforcePollTrigger, validate as validate_poll};
use super::schedule::{KIND as SCHEDULE, ScheduleTrigger, validate as validate_schedule};
use super::webhook::WebhookTrigger;
use crate::workflow::ValidationError;

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

/// `{"manual": {}}`: started only by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualTrigger {}

impl Trigger {
    /// The trigger's type, as the workflow names it: `webhook`,
    /// `outbound_message`, `schedule`, `salesforce_poll` or `manual`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook(_) => "webhook",
            Self::OutboundMessage(_) => "outbound_message",
            Self::Schedule(_) => SCHEDULE,
            Self::SalesforcePoll(_) => POLL,
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

/// A trigger whose events have no body to build one around.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a {0} trigger's event is `{{\"scheduled_at\", \"fired_at\"}}`, which has no body; give \
     the whole event instead"
)]
pub struct NoBody(&'static str);

impl Trigger {
    /// The event this trigger would make for `body`: a webhook request
    /// posting it as JSON, an Outbound Message or poll notifying it as the
    /// record (a poll with `batch_size` takes an array as its records), a
    /// manual start taking it as the event.
    pub fn event_for_body(&self, workflow_id: &str, body: Value) -> Result<Value, NoBody> {
        Ok(match self {
            Self::Webhook(_) => json!({
                "method": "POST",
                "path": format!("/hooks/{workflow_id}"),
                "query": {},
                "headers": { "content-type": "application/json" },
                "body": body,
            }),
            Self::OutboundMessage(outbound) => json!({
                "notification_id": null,
                "organization_id": outbound.organization_ids.first(),
                "action_id": null,
                "sobject_type": outbound.sobject,
                "record": body,
                "session_id": null,
                "enterprise_url": null,
                "partner_url": null,
            }),
            Self::SalesforcePoll(poll) => match (poll.batch_size, body) {
                (Some(_), Value::Array(records)) => {
                    json!({ "sobject": poll.sobject, "on": poll.on.as_str(), "records": records })
                }
                (Some(_), record) => {
                    json!({ "sobject": poll.sobject, "on": poll.on.as_str(), "records": [record] })
                }
                (None, record) => {
                    json!({ "sobject": poll.sobject, "on": poll.on.as_str(), "record": record })
                }
            },
            Self::Manual(_) => body,
            Self::Schedule(_) => return Err(NoBody(SCHEDULE)),
        })
    }
}

/// Checks a trigger's definition, adding every problem to `errors`.
pub(crate) fn validate(trigger: &Trigger, errors: &mut Vec<ValidationError>) {
    match trigger {
        Trigger::Webhook(_) | Trigger::Manual(_) => {}
        Trigger::OutboundMessage(config) => validate_outbound_message(config, errors),
        Trigger::Schedule(config) => validate_schedule(config, errors),
        Trigger::SalesforcePoll(config) => validate_poll(config, errors),
    }
}
