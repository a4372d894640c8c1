//! What starts a run. The set of triggers is fixed, so the definition uses an
//! externally tagged enum: `{"webhook": {...}}`.

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
    /// `{"manual": {}}`: only started by hand (`gust run`, the admin API).
    Manual(ManualTrigger),
}

impl Trigger {
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
            Self::Schedule(_) | Self::Manual(_) => None,
        }
    }
}

/// A secret kept out of the workflow file: `"env:NAME"` reads the environment
/// variable `NAME`, `"file:PATH"` reads a file (trailing newline dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// A file.
    File(String),
}

impl TryFrom<String> for SecretRef {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let secret = if let Some(name) = text.strip_prefix("env:") {
            Self::Env(name.to_owned())
        } else if let Some(path) = text.strip_prefix("file:") {
            Self::File(path.to_owned())
        } else {
            return Err(
                "a secret is written `env:NAME` or `file:PATH`, never inline in the workflow"
                    .to_owned(),
            );
        };
        match &secret {
            Self::Env(name) | Self::File(name) if name.is_empty() => {
                Err(format!("`{text}` names no variable or file"))
            }
            _ => Ok(secret),
        }
    }
}

impl SecretRef {
    /// The secret's value: the variable's, or the file's without its
    /// trailing newline. An unset variable, an unreadable file and an empty
    /// value are errors that say which.
    pub fn read(&self) -> Result<String, String> {
        let value = match self {
            Self::Env(name) => std::env::var(name)
                .map_err(|_| format!("environment variable `{name}` is not set"))?,
            Self::File(path) => std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read `{path}`: {error}"))?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        };
        if value.is_empty() {
            return Err(format!(
                "the secret `{}` is empty",
                String::from(self.clone())
            ));
        }
        Ok(value)
    }
}

impl From<SecretRef> for String {
    fn from(secret: SecretRef) -> String {
        match secret {
            SecretRef::Env(name) => format!("env:{name}"),
            SecretRef::File(path) => format!("file:{path}"),
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
}

/// `{"manual": {}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualTrigger {}
