//! The Outbound Message trigger's definition.

use gust_salesforce::SecretRef;
use serde::{Deserialize, Serialize};

/// `{"outbound_message": {"organization_ids": ["00D..."], "sobject": "Opportunity"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboundMessageTrigger {
    /// `"organization_ids": ["00D5g000004EXAMPLE"]`: the orgs allowed to
    /// post (15 or 18 characters; compared on the first 15). Left out in
    /// an installed workflow: each installation takes the messages of its
    /// own connection's org.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organization_ids: Vec<String>,
    /// `"sobject": "Opportunity"`: the sObject type the messages carry.
    pub sobject: String,
    /// `"token": "env:OM_TOKEN"`: Salesforce must post to
    /// `/salesforce/outbound/{workflow_id}/{token}`, a URL only the org's
    /// outbound message definition knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub token: Option<SecretRef>,
    /// `"require_session": true`: a message must carry a SessionId ("Send
    /// Session ID" on), and the connection's instance must confirm that it
    /// is a live session of the sending org before anything is stored.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_session: bool,
}
