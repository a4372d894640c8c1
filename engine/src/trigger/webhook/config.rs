//! The webhook trigger's definition.

use gust_salesforce::SecretRef;
use serde::{Deserialize, Serialize};

/// How a webhook answers its caller.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Respond {
    /// 202 with the run id, as soon as the event is durably stored.
    #[default]
    Accepted,
    /// Wait for the run and answer with the final step's output.
    Sync,
}

/// `{"webhook": {"secret": "env:LEADS_SECRET", "respond": "accepted"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTrigger {
    /// `"secret": "env:LEADS_SECRET"`: callers must send `Authorization: Bearer <secret>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub secret: Option<SecretRef>,
    /// `"hmac_secret": "env:SIGNING_KEY"`: callers must sign the body with
    /// HMAC-SHA256 in the `X-Gust-Signature` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub hmac_secret: Option<SecretRef>,
    /// `"respond": "accepted"` (default) or `"sync"`.
    #[serde(default)]
    pub respond: Respond,
}
