//! What the installations API takes and answers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{InstallationRecord, InstallationStatus};
use crate::workflow::Workflow;

/// `POST /api/installations`: a workflow installed for a tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInstallation {
    /// The tenant: your service's reference to its customer.
    pub tenant: String,
    /// The workflow to install.
    pub workflow: String,
    /// The tenant's settings, checked against the workflow's `config`
    /// schema (its defaults filled in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// The connection bound to each of the workflow's connection slots:
    /// `{"salesforce": "con_..."}`, connections of the same tenant (or
    /// `default`, the server's own).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connections: BTreeMap<String, String>,
    /// Whether its webhook also gets an unguessable URL that needs no
    /// bearer secret (for senders that cannot set headers).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unguessable_url: bool,
}

/// `PATCH /api/installations/{id}`: new settings or bindings, checked
/// against the version the installation is pinned to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallationChange {
    /// The new settings, in place of the old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// New bindings, by slot (the others are kept).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connections: BTreeMap<String, String>,
}

/// `POST /api/installations/{id}/upgrade`: the installation moved to the
/// workflow's loaded version, its config (this one, or its own) checked
/// against the new schema first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upgrade {
    /// Settings for the new version, in place of the old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
}

/// Which installations to list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InstallationFilter {
    /// Only this tenant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Only this workflow's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

/// An installation as the API shows it (its secrets never).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstallationView {
    /// Its id.
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// Its workflow.
    pub workflow: String,
    /// The workflow version it runs.
    pub workflow_version: String,
    /// The version loaded now, when it is another: upgrade to run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_available: Option<String>,
    /// Its settings.
    pub config: Value,
    /// Its connection bindings.
    pub connections: BTreeMap<String, String>,
    /// enabled, paused or error.
    pub status: InstallationStatus,
    /// Why it is in error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The path its events are posted to, if its trigger takes requests
    /// (`/hooks/{workflow}/{installation}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Whether it has an unguessable URL (shown only when made).
    pub unguessable_url: bool,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Its stored runs by status (`queued`, `retrying`, `succeeded`,
    /// `failed`), shown for one installation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<BTreeMap<String, usize>>,
}

impl InstallationView {
    /// The view of `record`, whose workflow as loaded is `loaded` (its
    /// definition and version).
    pub(crate) fn of(record: &InstallationRecord, loaded: Option<(&Workflow, &str)>) -> Self {
        Self {
            id: record.id.to_string(),
            tenant: record.tenant.clone(),
            workflow: record.workflow.clone(),
            workflow_version: record.workflow_version.clone(),
            upgrade_available: loaded
                .map(|(_, version)| version)
                .filter(|version| *version != record.workflow_version)
                .map(str::to_owned),
            config: record.config.clone(),
            connections: record
                .connections
                .iter()
                .map(|(slot, id)| (slot.clone(), id.to_string()))
                .collect(),
            status: record.status,
            error: None,
            path: loaded.and_then(|(workflow, _)| workflow.installation_path(record.id.as_str())),
            unguessable_url: record.url_token.is_some(),
            created_at: record.created_at,
            updated_at: record.updated_at,
            runs: None,
        }
    }
}

/// An installation just made, or whose secret was just rotated: its
/// secrets, shown this once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstallationSecrets {
    /// The installation.
    pub installation: InstallationView,
    /// The webhook's bearer secret: `Authorization: Bearer <secret>`.
    pub webhook_secret: String,
    /// The unguessable URL's path, if it has one: posting to it needs no
    /// secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unguessable_path: Option<String>,
}

/// What deleting an installation removed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedInstallation {
    /// Its id.
    pub id: String,
    /// State entries removed (step state and trigger cursors).
    pub state_entries: usize,
    /// Finished runs removed (with `?purge=true`).
    pub runs_removed: usize,
    /// Runs still in flight, kept: they end as failed.
    pub runs_unfinished: usize,
}
