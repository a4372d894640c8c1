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

#[async_trait::async_trait]
impl ConnectionSource for Connections {
    async fn salesforce(&self, id: &str) -> Result<Arc<dyn SalesforceService>, String> {
        self.client(id).await.map_err(|error| error.to_string())
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
    pub(crate) async fn load(&self) -> Result<usize, InstallationError> {
        let records = self.executor.store.installations().await?;
        let count = records.len();
        self.executor.installations.load(records);
        Ok(count)
    }

    /// Installs `request.workflow` for `request.tenant`: its config
    /// checked, its connections bound, its webhook secret made (shown in
    /// the answer only).
    pub async fn create(
        &self,
        request: NewInstallation,
    ) -> Result<InstallationSecrets, InstallationError> {
        let tenant = check_tenant(&request.tenant)?;
        let prepared = self.installable(&request.workflow)?;
        let workflow = &prepared.workflow;
        let config = settle(workflow, request.config)?;
        let connections = self
            .bind(workflow, &tenant, BTreeMap::new(), request.connections)
            .await?;
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
        self.keep_version(&prepared).await?;
        if !self.executor.store.put_installation(&record, None).await? {
            return Err(InstallationError::Conflict(record.id.to_string()));
        }
        let stored = InstallationRecord {
            version: 1,
            ..record
        };
        let view = self.view(&stored).await;
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
    pub async fn list(
        &self,
        filter: &InstallationFilter,
    ) -> Result<Vec<InstallationView>, InstallationError> {
        let mut views = Vec::new();
        for record in self.executor.store.installations().await? {
            if filter.tenant.as_ref().is_none_or(|t| *t == record.tenant)
                && filter
                    .workflow
                    .as_ref()
                    .is_none_or(|w| *w == record.workflow)
            {
                views.push(self.view(&record).await);
            }
        }
        Ok(views)
    }

    /// Installation `id`, with its stored runs counted by status.
    pub async fn get(&self, id: &str) -> Result<InstallationView, InstallationError> {
        let record = self.record(id).await?;
        let mut view = self.view(&record).await;
        view.runs = Some(self.run_counts(&record.id).await?);
        Ok(view)
    }

    /// The stored runs of `installation`, counted by status.
    async fn run_counts(
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
            let page = self.executor.store.list(&query).await?;
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
    pub async fn update(
        &self,
        id: &str,
        change: InstallationChange,
    ) -> Result<InstallationView, InstallationError> {
        for _ in 0..MAX_UPDATE_TRIES {
            let before = self.record(id).await?;
            let mut record = before.clone();
            let loaded = self.installable(&record.workflow)?;
            let pinned = self
                .executor
                .pinned(loaded, &record.workflow_version)
                .await
                .map_err(InstallationError::Invalid)?
                .workflow;
            if let Some(config) = change.config.clone() {
                record.config = settle(&pinned, Some(config))?;
            }
            if !change.connections.is_empty() {
                let current = record.connections.clone();
                let requested = change.connections.clone();
                record.connections = self
                    .bind(&pinned, &record.tenant, current, requested)
                    .await?;
            }
            if let Some(view) = self.put(&before, record).await? {
                return Ok(view);
            }
        }
        Err(InstallationError::Conflict(id.to_owned()))
    }

    /// Pauses installation `id`: its schedules and polls stop and its
    /// webhooks answer 409 until it is resumed.
    pub async fn pause(&self, id: &str) -> Result<InstallationView, InstallationError> {
        self.change(id, |record| {
            record.status = InstallationStatus::Paused;
        })
        .await
    }

    /// Resumes installation `id`.
    pub async fn resume(&self, id: &str) -> Result<InstallationView, InstallationError> {
        self.change(id, |record| {
            record.status = InstallationStatus::Enabled;
        })
        .await
    }

    /// Moves installation `id` to its workflow's loaded version, its config
    /// (`upgrade.config`, or its own) checked against the new schema
    /// first: a config that no longer fits refuses the upgrade.
    pub async fn upgrade(
        &self,
        id: &str,
        upgrade: Upgrade,
    ) -> Result<InstallationView, InstallationError> {
        for _ in 0..MAX_UPDATE_TRIES {
            let before = self.record(id).await?;
            let mut record = before.clone();
            let loaded = self.installable(&record.workflow)?;
            let config = upgrade
                .config
                .clone()
                .unwrap_or_else(|| record.config.clone());
            record.config = settle(&loaded.workflow, Some(config))?;
            let current = std::mem::take(&mut record.connections);
            record.connections = self
                .bind(
                    &loaded.workflow,
                    &record.tenant,
                    BTreeMap::new(),
                    as_text(&current),
                )
                .await?;
            self.keep_version(&loaded).await?;
            record.workflow_version = loaded.version.to_string();
            if let Some(view) = self.put(&before, record).await? {
                return Ok(view);
            }
        }
        Err(InstallationError::Conflict(id.to_owned()))
    }

    /// Makes installation `id` a new webhook secret (and a new unguessable
    /// URL, if it has one); the old ones stop working at once.
    pub async fn rotate_secret(&self, id: &str) -> Result<InstallationSecrets, InstallationError> {
        let mut made = None;
        let view = self
            .change(id, |record| {
                let (secret, digest) = SecretDigest::generate("whsec_");
                record.secret = digest;
                let token = record.url_token.is_some().then(|| {
                    let (token, digest) = SecretDigest::generate("url_");
                    record.url_token = Some(digest);
                    unguessable_path(record, &token)
                });
                made = Some((secret, token));
            })
            .await?;
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
    pub async fn delete(
        &self,
        id: &str,
        purge: bool,
    ) -> Result<DeletedInstallation, InstallationError> {
        let record = self.record(id).await?;
        self.executor.installations.remove(&record.id);
        self.changed.notify_one();
        let scope = installation_scope(&record.workflow, &record.id);
        let removed = self
            .executor
            .store
            .delete_installation(&record.id, &scope, purge)
            .await?;
        Ok(DeletedInstallation {
            id: record.id.to_string(),
            state_entries: removed.state_entries,
            runs_removed: removed.runs,
            runs_unfinished: removed.unfinished_runs.len(),
        })
    }

    /// Applies `edit` to installation `id` with a version check, reading
    /// it again when another write landed first.
    async fn change(
        &self,
        id: &str,
        mut edit: impl FnMut(&mut InstallationRecord) + Send,
    ) -> Result<InstallationView, InstallationError> {
        for _ in 0..MAX_UPDATE_TRIES {
            let before = self.record(id).await?;
            let mut after = before.clone();
            edit(&mut after);
            if let Some(view) = self.put(&before, after).await? {
                return Ok(view);
            }
        }
        Err(InstallationError::Conflict(id.to_owned()))
    }

    /// Writes `after` over `before` if no other write landed in between,
    /// and runs it from then on; `None` when another write landed first.
    async fn put(
        &self,
        before: &InstallationRecord,
        mut after: InstallationRecord,
    ) -> Result<Option<InstallationView>, InstallationError> {
        after.updated_at = now();
        let store = &self.executor.store;
        if !store.put_installation(&after, Some(before.version)).await? {
            return Ok(None);
        }
        after.version = before.version + 1;
        let view = self.view(&after).await;
        self.executor.installations.put(after);
        self.changed.notify_one();
        Ok(Some(view))
    }

    async fn record(&self, id: &str) -> Result<InstallationRecord, InstallationError> {
        let unknown = || InstallationError::UnknownInstallation(id.to_owned());
        let id = InstallationId::parse(id).ok_or_else(unknown)?;
        self.executor
            .store
            .installation(&id)
            .await?
            .ok_or_else(unknown)
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
    async fn keep_version(&self, prepared: &PreparedWorkflow) -> Result<(), InstallationError> {
        let store = &self.executor.store;
        if store.workflow_version(&prepared.version).await?.is_none() {
            store
                .put_workflow_version(&prepared.version, &StoredVersion::write(prepared))
                .await?;
        }
        Ok(())
    }

    /// `current` bindings with `requested` ones over them, checked: every
    /// slot of `workflow` bound, to a connection of `tenant` (or to
    /// `default`, the server's own).
    async fn bind(
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
            let view = self.connections.get(&id).await.map_err(|_| {
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
    async fn view(&self, record: &InstallationRecord) -> InstallationView {
        let loaded = self.executor.workflows.ready(&record.workflow);
        let mut view = InstallationView::of(
            record,
            loaded
                .as_ref()
                .map(|prepared| (&*prepared.workflow, &*prepared.version)),
        );
        if view.status == InstallationStatus::Enabled
            && let Some(problem) = self.problem(record, loaded.is_some()).await
        {
            view.status = InstallationStatus::Error;
            view.error = Some(problem);
        }
        view
    }

    /// Why `record` cannot run, if it cannot.
    async fn problem(&self, record: &InstallationRecord, loaded: bool) -> Option<String> {
        if !loaded {
            return Some(format!(
                "workflow `{}` is not loaded: its events are refused until it is",
                record.workflow
            ));
        }
        for (slot, id) in &record.connections {
            if self.connections.get(id.as_str()).await.is_err() {
                return Some(format!(
                    "its `{slot}` connection `{id}` no longer exists: bind another \
                     (PATCH /api/installations/{})",
                    record.id
                ));
            }
        }
        None
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
