//! What starts a run, as a workflow defines it. The set of triggers is
//! fixed, so the definition is an externally tagged enum,
//! `{"webhook": {...}}`, wrapping each trigger's own config.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::outbound_message::{OutboundMessageTrigger, validate as validate_outbound_message};
use super::salesforce_events::{
    KIND as EVENTS, SalesforceEventsTrigger, validate as validate_events,
};
use super::salesforce_poll::{KIND as POLL, SalesforcePollTrigger, validate as validate_poll};
use super::schedule::{
    Cadence, DEFAULT_JITTER, KIND as SCHEDULE, ScheduleTrigger, validate as validate_schedule,
};
use super::webhook::WebhookTrigger;
use crate::workflow::{SecretRef, ValidationError};

/// The trigger of a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// `{"salesforce_events": {"topic": "/data/LeadChangeEvent"}}`: change
    /// data capture or platform events, received through Salesforce's
    /// Pub/Sub API as they happen.
    SalesforceEvents(SalesforceEventsTrigger),
    /// `{"manual": {}}`: only started by hand (`gust run`, the admin API).
    Manual(ManualTrigger),
}

/// `{"manual": {}}`: started only by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualTrigger {}

impl Trigger {
    /// The trigger's type, as the workflow names it: `webhook`,
    /// `outbound_message`, `schedule`, `salesforce_poll`,
    /// `salesforce_events` or `manual`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Webhook(_) => "webhook",
            Self::OutboundMessage(_) => "outbound_message",
            Self::Schedule(_) => SCHEDULE,
            Self::SalesforcePoll(_) => POLL,
            Self::SalesforceEvents(_) => EVENTS,
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
            Self::Schedule(_)
            | Self::SalesforcePoll(_)
            | Self::SalesforceEvents(_)
            | Self::Manual(_) => None,
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
            Self::SalesforceEvents(events) => Some(format!("events {}", events.topic)),
            Self::Manual(_) => Some("manual".to_owned()),
        }
    }
}

impl Trigger {
    /// The jitter window of a schedule or poll of an installed workflow:
    /// its `jitter`, or [`DEFAULT_JITTER`].
    pub fn jitter(&self) -> std::time::Duration {
        match self {
            Self::Schedule(schedule) => schedule.jitter,
            Self::SalesforcePoll(poll) => poll.jitter,
            _ => None,
        }
        .unwrap_or(DEFAULT_JITTER)
    }

    /// The secrets the trigger reads, each with its JSON path:
    /// `("trigger.webhook.secret", env:LEADS_SECRET)`.
    pub fn secrets(&self) -> Vec<(&'static str, &SecretRef)> {
        let mut secrets = Vec::new();
        match self {
            Self::Webhook(webhook) => {
                if let Some(secret) = &webhook.secret {
                    secrets.push(("trigger.webhook.secret", secret));
                }
                if let Some(secret) = &webhook.hmac_secret {
                    secrets.push(("trigger.webhook.hmac_secret", secret));
                }
            }
            Self::OutboundMessage(outbound) => {
                if let Some(token) = &outbound.token {
                    secrets.push(("trigger.outbound_message.token", token));
                }
            }
            Self::Schedule(_)
            | Self::SalesforcePoll(_)
            | Self::SalesforceEvents(_)
            | Self::Manual(_) => {}
        }
        secrets
    }
}

/// A body given to a trigger whose events have none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a schedule's event is `{{\"scheduled_at\", \"fired_at\"}}`, which has no body; give \
     the whole event, or nothing for a fire now"
)]
pub struct NoBody;

impl Trigger {
    /// The event this trigger would make for `body`, for a run started by
    /// hand: a webhook request posting it as JSON, an Outbound Message or
    /// poll notifying it as the record (a poll with `batch_size` takes an
    /// array as its records), a manual start taking it as the event. With
    /// no body: a request without one, an empty record, a schedule's fire
    /// now, `{}` for a manual start.
    pub fn event_for_body(&self, workflow_id: &str, body: Option<Value>) -> Result<Value, NoBody> {
        let given = body.is_some();
        // A record or manual event: the body, or an empty object.
        let record = body.clone().unwrap_or_else(|| json!({}));
        let body = body.unwrap_or(Value::Null);
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
                "record": record,
                "session_id": null,
                "enterprise_url": null,
                "partner_url": null,
                "notification_xml": null,
            }),
            Self::SalesforcePoll(poll) => {
                let (key, records) = match (poll.batch_size, body) {
                    (Some(_), Value::Array(records)) => ("records", Value::Array(records)),
                    (Some(_), _) if !given => ("records", json!([])),
                    (Some(_), record) => ("records", json!([record])),
                    (None, _) => ("record", record),
                };
                json!({ "sobject": poll.sobject, "on": poll.on.as_str(), key: records })
            }
            Self::SalesforceEvents(events) => json!({
                "topic": events.topic,
                "kind": if record.get("ChangeEventHeader").is_some() { "change" } else { "event" },
                "replay_id": null,
                "event_id": null,
                "schema_id": null,
                "payload": record,
            }),
            Self::Manual(_) => record,
            Self::Schedule(_) if given => return Err(NoBody),
            Self::Schedule(schedule) => {
                let now = crate::model::now();
                match Cadence::new(&schedule.cron, schedule.timezone.as_deref()) {
                    Ok(cadence) => cadence.fire_event(now, now),
                    Err(_) => json!({ "scheduled_at": now, "fired_at": now }),
                }
            }
        })
    }
}

/// Checks a trigger's definition, adding every problem to `errors`; the
/// trigger of an `installable` workflow runs per installation.
pub(crate) fn validate(trigger: &Trigger, installable: bool, errors: &mut Vec<ValidationError>) {
    match trigger {
        Trigger::Webhook(_) | Trigger::Manual(_) => {}
        Trigger::OutboundMessage(config) => {
            validate_outbound_message(config, installable, errors);
        }
        Trigger::Schedule(config) => validate_schedule(config, errors),
        Trigger::SalesforcePoll(config) => validate_poll(config, errors),
        Trigger::SalesforceEvents(config) => validate_events(config, errors),
    }
}
