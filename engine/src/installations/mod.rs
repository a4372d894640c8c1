//! Installations: a workflow enabled for one tenant, with that tenant's
//! settings and connection, pinned to a version of the workflow.
//!
//! [`Installations`] is what the API, the CLI and embedders use: create,
//! list, change, pause and resume, upgrade, rotate the webhook secret and
//! delete. Every write goes to the store with a version check, then to the
//! runtime's copy that runs and routes read.

mod error;
mod view;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Notify;

pub use error::InstallationError;
pub use view::{
    DeletedInstallation, InstallationChange, InstallationFilter, InstallationSecrets,
    InstallationView, NewInstallation, Upgrade,
};

use crate::connections::Connections;
use crate::model::{
    ConnectionId, InstallationId, InstallationRecord, InstallationStatus, SecretDigest,
    installation_scope, now,
};
use crate::runtime::executor::Executor;
use crate::runtime::installations::ConnectionSource;
use crate::runtime::{PreparedWorkflow, RunFor, StoredVersion, SubmitError};
use crate::salesforce::SalesforceService;
use crate::store::{Accepted, RunQuery};
use crate::workflow::Workflow;

/// The longest tenant reference, in bytes.
const MAX_TENANT_BYTES: usize = 256;
/// How many runs are read at once to count an installation's.
const COUNT_PAGE: usize = 1000;
/// How many times a change reads the installation again after another
/// write landed first.
const MAX_UPDATE_TRIES: usize = 8;

/// The installations of an engine. Cheap to clone.
#[derive(Clone)]
pub struct Installations {
    executor: Arc<Executor>,
    connections: Connections,
    /// Told of every change, so the engine starts and stops the
    /// installations' schedules and polls.
    changed: Arc<Notify>,
}

impl ConnectionSource for Connections {
    fn salesforce(&self, id: &str) -> Result<Arc<dyn SalesforceService>, String> {
        self.client(id).map_err(|error| error.to_string())
    }
}

impl Installations {
    pub(crate) fn new(executor: Arc<Executor>, connections: Connections) -> Self {
        Self {
            executor,
            connections,
            changed: Arc::default(),
        }
    }

    /// What is told of every change.
    pub(crate) fn changes(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Reads every stored installation into the runtime.
    pub(crate) fn load(&self) -> Result<usize, InstallationError> {
        let records = self.executor.store.installations()?;
        let count = records.len();
        self.executor.installations.load(records);
        Ok(count)
    }

    /// Installs `request.workflow` for `request.tenant`: its config
    /// checked, its connections bound, its webhook secret made (shown in
    /// the answer only).
    pub fn create(
        &self,
        request: NewInstallation,
    ) -> Result<InstallationSecrets, InstallationError> {
        let tenant = check_tenant(&request.tenant)?;
        let prepared = self.installable(&request.workflow)?;
        let workflow = &prepared.workflow;
        let config = settle(workflow, request.config)?;
        let connections = self.bind(workflow, &tenant, BTreeMap::new(), request.connections)?;
        let (secret, digest) = SecretDigest::generate("whsec_");
        let url_token = request
            .unguessable_url
            .then(|| SecretDigest::generate("url_"));
        let at = now();
        let record = InstallationRecord {
            id: InstallationId::random(),
            tenant,
            workflow: workflow.id.to_string(),
            workflow_version: prepared.version.to_string(),
            config,
            connections,
            status: InstallationStatus::Enabled,
            secret: digest,
            url_token: url_token.as_ref().map(|(_, digest)| digest.clone()),
            created_at: at,
            updated_at: at,
            version: 0,
        };
        self.keep_version(&prepared)?;
        if !self.executor.store.put_installation(&record, None)? {
            return Err(InstallationError::Conflict(record.id.to_string()));
        }
        let stored = InstallationRecord {
            version: 1,
            ..record
        };
        let view = self.view(&stored);
        let unguessable_path = url_token.map(|(token, _)| unguessable_path(&stored, &token));
        self.executor.installations.put(stored);
        self.changed.notify_one();
        Ok(InstallationSecrets {
            installation: view,
            webhook_secret: secret,
            unguessable_path,
        })
    }

    /// The installations `filter` keeps, by id.
    pub fn list(
        &self,
        filter: &InstallationFilter,
    ) -> Result<Vec<InstallationView>, InstallationError> {
        Ok(self
            .executor
            .store
            .installations()?
            .iter()
            .filter(|record| {
                filter.tenant.as_ref().is_none_or(|t| *t == record.tenant)
                    && filter
                        .workflow
                        .as_ref()
                        .is_none_or(|w| *w == record.workflow)
            })
            .map(|record| self.view(record))
            .collect())
    }

    /// Installation `id`, with its stored runs counted by status.
    pub fn get(&self, id: &str) -> Result<InstallationView, InstallationError> {
        let record = self.record(id)?;
        let mut view = self.view(&record);
        view.runs = Some(self.run_counts(&record.id)?);
        Ok(view)
    }

    /// The stored runs of `installation`, counted by status.
    fn run_counts(
        &self,
        installation: &InstallationId,
    ) -> Result<BTreeMap<String, usize>, InstallationError> {
        let mut counts = BTreeMap::new();
        let mut query = RunQuery {
            installation: Some(installation.clone()),
            limit: COUNT_PAGE,
            ..RunQuery::default()
        };
        loop {
            let page = self.executor.store.list(&query)?;
            for run in &page.runs {
                *counts.entry(run.status.as_str().to_owned()).or_default() += 1;
            }
            match page.next_cursor {
                Some(cursor) => query.before = Some(cursor),
                None => return Ok(counts),
            }
        }
    }

    /// Changes installation `id`'s config or bindings, checked against the
    /// version it is pinned to.
    pub fn update(
        &self,
        id: &str,
        change: InstallationChange,
    ) -> Result<InstallationView, InstallationError> {
        self.change(id, |this, record| {
            let loaded = this.installable(&record.workflow)?;
            let pinned = this
                .executor
                .pinned(loaded, &record.workflow_version)
                .map_err(InstallationError::Invalid)?
                .workflow;
            if let Some(config) = change.config.clone() {
                record.config = settle(&pinned, Some(config))?;
            }
            if !change.connections.is_empty() {
                let current = record.connections.clone();
                record.connections =
                    this.bind(&pinned, &record.tenant, current, change.connections.clone())?;
            }
            Ok(())
        })
    }

    /// Pauses installation `id`: its schedules and polls stop and its
    /// webhooks answer 409 until it is resumed.
    pub fn pause(&self, id: &str) -> Result<InstallationView, InstallationError> {
        self.change(id, |_, record| {
            record.status = InstallationStatus::Paused;
            Ok(())
        })
    }

    /// Resumes installation `id`.
    pub fn resume(&self, id: &str) -> Result<InstallationView, InstallationError> {
        self.change(id, |_, record| {
            record.status = InstallationStatus::Enabled;
            Ok(())
        })
    }

    /// Moves installation `id` to its workflow's loaded version, its config
    /// (`upgrade.config`, or its own) checked against the new schema
    /// first: a config that no longer fits refuses the upgrade.
    pub fn upgrade(
        &self,
        id: &str,
        upgrade: Upgrade,
    ) -> Result<InstallationView, InstallationError> {
        self.change(id, |this, record| {
            let loaded = this.installable(&record.workflow)?;
            let config = upgrade
                .config
                .clone()
                .unwrap_or_else(|| record.config.clone());
            record.config = settle(&loaded.workflow, Some(config))?;
            let current = std::mem::take(&mut record.connections);
            record.connections = this.bind(
                &loaded.workflow,
                &record.tenant,
                BTreeMap::new(),
                as_text(&current),
            )?;
            this.keep_version(&loaded)?;
            record.workflow_version = loaded.version.to_string();
            Ok(())
        })
    }

    /// Makes installation `id` a new webhook secret (and a new unguessable
    /// URL, if it has one); the old ones stop working at once.
    pub fn rotate_secret(&self, id: &str) -> Result<InstallationSecrets, InstallationError> {
        let mut made = None;
        let view = self.change(id, |_, record| {
            let (secret, digest) = SecretDigest::generate("whsec_");
            record.secret = digest;
            let token = record.url_token.is_some().then(|| {
                let (token, digest) = SecretDigest::generate("url_");
                record.url_token = Some(digest);
                unguessable_path(record, &token)
            });
            made = Some((secret, token));
            Ok(())
        })?;
        let (webhook_secret, unguessable_path) = made.unwrap_or_default();
        Ok(InstallationSecrets {
            installation: view,
            webhook_secret,
            unguessable_path,
        })
    }

    /// Stores `event` for installation `id` durably and queues its run, as
    /// its webhook does: a paused installation takes none, and a
    /// `dedupe_key` it already took answers the earlier run.
    pub async fn submit(
        &self,
        id: &str,
        event: Value,
        dedupe_key: Option<String>,
    ) -> Result<Accepted, SubmitError> {
        let installation = InstallationId::parse(id)
            .and_then(|id| self.executor.installations.get(&id))
            .ok_or_else(|| SubmitError::UnknownInstallation(id.to_owned()))?;
        let target = RunFor::installation(&installation.record);
        self.executor.submit_one(&target, (event, dedupe_key)).await
    }

    /// Deletes installation `id`: its triggers stop, its step state and
    /// cursors are removed, and with `purge` its finished runs too (else
    /// they stay until retention).
    pub fn delete(&self, id: &str, purge: bool) -> Result<DeletedInstallation, InstallationError> {
        let record = self.record(id)?;
        self.executor.installations.remove(&record.id);
        self.changed.notify_one();
        let scope = installation_scope(&record.workflow, &record.id);
        let removed = self
            .executor
            .store
            .delete_installation(&record.id, &scope, purge)?;
        Ok(DeletedInstallation {
            id: record.id.to_string(),
            state_entries: removed.state_entries,
            runs_removed: removed.runs,
            runs_unfinished: removed.unfinished_runs.len(),
        })
    }

    /// Applies `edit` to installation `id` with a version check, reading
    /// it again when another write landed first.
    fn change(
        &self,
        id: &str,
        mut edit: impl FnMut(&Self, &mut InstallationRecord) -> Result<(), InstallationError>,
    ) -> Result<InstallationView, InstallationError> {
        for _ in 0..MAX_UPDATE_TRIES {
            let before = self.record(id)?;
            let mut after = before.clone();
            edit(self, &mut after)?;
            after.updated_at = now();
            if self
                .executor
                .store
                .put_installation(&after, Some(before.version))?
            {
                after.version = before.version + 1;
                let view = self.view(&after);
                self.executor.installations.put(after);
                self.changed.notify_one();
                return Ok(view);
            }
        }
        Err(InstallationError::Conflict(id.to_owned()))
    }

    fn record(&self, id: &str) -> Result<InstallationRecord, InstallationError> {
        let unknown = || InstallationError::UnknownInstallation(id.to_owned());
        let id = InstallationId::parse(id).ok_or_else(unknown)?;
        self.executor.store.installation(&id)?.ok_or_else(unknown)
    }

    /// The loaded, installable workflow `id`.
    fn installable(&self, id: &str) -> Result<PreparedWorkflow, InstallationError> {
        let prepared = self
            .executor
            .workflows
            .ready(id)
            .ok_or_else(|| InstallationError::UnknownWorkflow(id.to_owned()))?;
        if !prepared.workflow.is_installable() {
            return Err(InstallationError::NotInstallable(id.to_owned()));
        }
        Ok(prepared)
    }

    /// Keeps `prepared`'s definition, for the installations pinned to it.
    fn keep_version(&self, prepared: &PreparedWorkflow) -> Result<(), InstallationError> {
        let store = &self.executor.store;
        if store.workflow_version(&prepared.version)?.is_none() {
            store.put_workflow_version(&prepared.version, &StoredVersion::write(prepared))?;
        }
        Ok(())
    }

    /// `current` bindings with `requested` ones over them, checked: every
    /// slot of `workflow` bound, to a connection of `tenant` (or to
    /// `default`, the server's own).
    fn bind(
        &self,
        workflow: &Workflow,
        tenant: &str,
        current: BTreeMap<String, ConnectionId>,
        requested: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, ConnectionId>, InstallationError> {
        let mut bound = current;
        for (slot, id) in requested {
            if !workflow.connections.contains_key(&slot) {
                return Err(InstallationError::Binding(format!(
                    "workflow `{}` has no connection slot `{slot}`",
                    workflow.id
                )));
            }
            let view = self.connections.get(&id).map_err(|_| {
                InstallationError::Binding(format!(
                    "connections.{slot}: there is no connection `{id}`"
                ))
            })?;
            // `default`, the server's own connection, is the operator's to
            // bind; a customer's connection only to its own tenant.
            if id != ConnectionId::DEFAULT && view.tenant.as_deref() != Some(tenant) {
                return Err(InstallationError::Binding(format!(
                    "connections.{slot}: connection `{id}` is not one of tenant `{tenant}`'s; \
                     connect the tenant's own org with a connect session"
                )));
            }
            let id = ConnectionId::parse(&id).ok_or_else(|| {
                InstallationError::Binding(format!(
                    "connections.{slot}: `{id}` is not a connection id"
                ))
            })?;
            bound.insert(slot, id);
        }
        bound.retain(|slot, _| workflow.connections.contains_key(slot));
        if let Some(missing) = workflow
            .connections
            .keys()
            .find(|slot| !bound.contains_key(*slot))
        {
            return Err(InstallationError::Binding(format!(
                "workflow `{}` needs a connection for its `{missing}` slot: \
                 `\"connections\": {{\"{missing}\": \"con_...\"}}`",
                workflow.id
            )));
        }
        Ok(bound)
    }

    /// The view of `record`: an enabled installation that cannot run (its
    /// workflow not loaded, a bound connection gone) is shown in `error`,
    /// saying why.
    fn view(&self, record: &InstallationRecord) -> InstallationView {
        let loaded = self.executor.workflows.ready(&record.workflow);
        let mut view = InstallationView::of(
            record,
            loaded
                .as_ref()
                .map(|prepared| (&*prepared.workflow, &*prepared.version)),
        );
        if view.status == InstallationStatus::Enabled
            && let Some(problem) = self.problem(record, loaded.is_some())
        {
            view.status = InstallationStatus::Error;
            view.error = Some(problem);
        }
        view
    }

    /// Why `record` cannot run, if it cannot.
    fn problem(&self, record: &InstallationRecord, loaded: bool) -> Option<String> {
        if !loaded {
            return Some(format!(
                "workflow `{}` is not loaded: its events are refused until it is",
                record.workflow
            ));
        }
        record.connections.iter().find_map(|(slot, id)| {
            self.connections.get(id.as_str()).is_err().then(|| {
                format!(
                    "its `{slot}` connection `{id}` no longer exists: bind another \
                     (PATCH /api/installations/{})",
                    record.id
                )
            })
        })
    }
}

/// The unguessable URL's path of `record`'s webhook, with `token`.
fn unguessable_path(record: &InstallationRecord, token: &str) -> String {
    format!("/hooks/{}/{}/{token}", record.workflow, record.id)
}

/// `config` settled against `workflow`'s schema.
fn settle(workflow: &Workflow, config: Option<Value>) -> Result<Value, InstallationError> {
    workflow
        .settle_config(config)
        .map_err(|errors| InstallationError::InvalidConfig {
            workflow: workflow.id.to_string(),
            errors,
        })
}

fn check_tenant(tenant: &str) -> Result<String, InstallationError> {
    let tenant = tenant.trim();
    if tenant.is_empty() || tenant.len() > MAX_TENANT_BYTES || tenant.chars().any(char::is_control)
    {
        return Err(InstallationError::Invalid(format!(
            "tenant is 1 to {MAX_TENANT_BYTES} bytes of text, the reference your service keeps for its customer"
        )));
    }
    Ok(tenant.to_owned())
}

fn as_text(bindings: &BTreeMap<String, ConnectionId>) -> BTreeMap<String, String> {
    bindings
        .iter()
        .map(|(slot, id)| (slot.clone(), id.to_string()))
        .collect()
}
