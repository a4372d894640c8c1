//! The embeddable engine: a store, the step sandbox, the loaded workflows,
//! the executor and the HTTP routes, behind one handle.
//!
//! ```no_run
//! # async fn embed() -> Result<(), Box<dyn std::error::Error>> {
//! use gust_engine::{Config, Engine};
//!
//! let engine = Engine::start(Config::new("gust-data")).await?;
//! engine.load_dir("workflows".as_ref()).await?;
//! let app = axum::Router::new().nest("/gust", engine.router());
//! let accepted = engine
//!     .submit("score-lead", serde_json::json!({"body": {"Email": "a@b.c"}}), None)
//!     .await?;
//! let run = engine.wait(accepted.run().id, std::time::Duration::from_secs(5)).await?;
//! # drop((app, run));
//! engine.shutdown().await;
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::{BacklogView, TriggerStatus};
use crate::config::Config;
use crate::connections::{ConnectError, Connections};
use crate::installations::{InstallationError, Installations};
use crate::metrics::{Metrics, QueueGauges};
use crate::model::{
    InstallationId, InstallationStatus, RunId, RunRecord, RunStatus, StateWrite, lane, now,
};
use crate::runtime::executor::Executor;
use crate::runtime::installations::Installation;
use crate::runtime::{Backlog, NewEvent, RunFor, StepRunner, SubmitError, WorkflowSet, Workflows};
use crate::salesforce::SalesforceService;
use crate::secrets::{KeyRing, KeySource, SecretsError};
use crate::store::ConnectionStore;
use crate::store::StateStore;
use crate::store::{
    Accepted, EventSearch, NewRun, RunDetail, RunPage, RunQuery, Store, StoreError,
};
use crate::trigger::{BackgroundSpec, Supervisor, Trigger, TriggerHost};
use crate::wasm::Sandbox;
use crate::workflow::{SALESFORCE_SLOT, ValidationErrors, Workflow, WorkflowFile};

/// Why an engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sandbox could not be set up.
    #[error(transparent)]
    Runtime(#[from] crate::wasm::Error),
    /// The secret key ring could not be loaded.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The stored connections could not be opened (a stored secret whose
    /// key is missing is named).
    #[error("the stored connections cannot be opened: {0}")]
    Connections(#[from] ConnectError),
    /// The stored installations could not be read.
    #[error("the stored installations cannot be read: {0}")]
    Installations(#[from] InstallationError),
}

/// A running engine. Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct Engine {
    pub(crate) executor: Arc<Executor>,
    pub(crate) config: Arc<Config>,
    connections: Connections,
    installations: Installations,
    key_source: KeySource,
    tasks: Arc<Tasks>,
}

struct Tasks {
    triggers: Supervisor,
    tracker: TaskTracker,
    stop: CancellationToken,
    abort: CancellationToken,
    dispatcher: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// Held while the background triggers are brought in line.
    syncing: tokio::sync::Mutex<()>,
}

impl Engine {
    /// Opens the store (`config.store`, by default the embedded one in
    /// `config.data_dir`) and starts the executor.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let store = config
            .store_location()
            .open(config.store_cache_bytes, config.store_lease)
            .await?;
        Self::with_store(config, store).await
    }

    /// Starts the executor over `store`.
    pub async fn with_store(config: Config, store: Arc<dyn Store>) -> Result<Self, StartError> {
        let (keys, key_source) =
            KeyRing::load_or_create(config.secret_key_file.as_deref(), &config.data_dir)?;
        if let KeySource::Created(path) = &key_source {
            tracing::info!(path = %path.display(), "Created a secret key: keep it (and back it up); stored connections cannot be read without it.");
        }
        // The configured connection is `default`; without one (no stats)
        // there is none.
        let default = config
            .salesforce
            .stats()
            .is_some()
            .then(|| config.salesforce.clone());
        let connections = Connections::open(
            store.clone() as Arc<dyn ConnectionStore>,
            keys,
            config.connect.clone(),
            default,
        )
        .await?;
        let runtime = Arc::new(Sandbox::new(config.sandbox.clone())?);
        let runner = StepRunner::new(runtime, config.salesforce.clone(), store.clone())
            .with_journal(store.clone(), config.journal_max_read_bytes);
        let executor = Arc::new(Executor {
            store,
            runner,
            workflows: Workflows::default(),
            queue: Default::default(),
            watchers: Default::default(),
            metrics: Metrics::new(),
            workers: config.workers.max(1),
            default_concurrency: config.default_concurrency.max(1),
            fresh: Default::default(),
            resuming: Default::default(),
            backlog: Backlog::new(config.max_backlog),
            left_in_store: Default::default(),
            installations: Default::default(),
            connections: Some(Arc::new(connections.clone())),
            feed: Default::default(),
        });
        let installations = Installations::new(executor.clone(), connections.clone());
        installations.load().await?;
        executor
            .backlog
            .add_stored(executor.store.unfinished().await?);
        let tasks = Arc::new(Tasks {
            triggers: Supervisor::default(),
            tracker: TaskTracker::new(),
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
            dispatcher: Default::default(),
            syncing: Default::default(),
        });
        let dispatcher = tokio::spawn(executor.clone().dispatch(
            tasks.tracker.clone(),
            tasks.stop.clone(),
            tasks.abort.clone(),
        ));
        *tasks.dispatcher.lock().unwrap_or_else(|e| e.into_inner()) = Some(dispatcher);
        tasks
            .tracker
            .spawn(connections.clone().run(tasks.stop.clone()));
        if let Some(retention) = config.retention {
            tasks
                .tracker
                .spawn(prune(executor.clone(), retention, tasks.stop.clone()));
        }
        let engine = Self {
            executor,
            config: Arc::new(config),
            connections,
            installations,
            key_source,
            tasks,
        };
        engine.follow_installations();
        Ok(engine)
    }

    /// The engine's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The customers' Salesforce connections: connect sessions, the
    /// connections and their clients, OAuth apps.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// The workflows installed per customer: create, list, change, pause,
    /// upgrade, rotate secrets and delete.
    pub fn installations(&self) -> &Installations {
        &self.installations
    }

    /// Where the secret key ring came from (a key file made at this start
    /// is [`KeySource::Created`]).
    pub fn key_source(&self) -> &KeySource {
        &self.key_source
    }

    /// Replaces the loaded workflows with the `*.json` files of `dir`, and
    /// queues the stored runs of every workflow now loaded. Files that fail
    /// are reported in the set; the others load.
    pub async fn load_dir(&self, dir: &Path) -> std::io::Result<Arc<WorkflowSet>> {
        let set = WorkflowSet::load_dir(dir, &self.executor.runner)?;
        self.executor.workflows.replace(set);
        self.executor.queue_stored_runs().await;
        self.sync_background_triggers().await;
        Ok(self.workflows())
    }

    /// Adds (or replaces) one workflow defined in code: `workflow` (from
    /// [`workflow::parse`](crate::workflow::parse) or built), its relative
    /// `uses` paths resolved against `base_dir`. Its components are
    /// compiled (a while, the first time) on a blocking thread.
    pub async fn add(&self, workflow: Workflow, base_dir: &Path) -> Result<(), ValidationErrors> {
        let path = base_dir.join(format!("{}.json", workflow.id));
        self.add_workflow(&WorkflowFile { path, workflow }).await
    }

    /// Adds (or replaces) one workflow read from a file, and starts its
    /// trigger and the runs of it the store holds.
    pub async fn add_workflow(&self, file: &WorkflowFile) -> Result<(), ValidationErrors> {
        let executor = self.executor.clone();
        let file = file.clone();
        let prepared = tokio::task::spawn_blocking(move || executor.runner.prepare(&file))
            .await
            .unwrap_or_else(|failed| std::panic::resume_unwind(failed.into_panic()))?;
        self.executor.workflows.insert(prepared);
        self.executor.queue_stored_runs().await;
        self.sync_background_triggers().await;
        Ok(())
    }

    /// Starts and stops the schedules and polls to match the loaded
    /// workflows and the enabled installations (stopping those of
    /// workflows no longer loaded, and of installations paused or deleted).
    async fn sync_background_triggers(&self) {
        // One at a time, so that the last set computed is the one applied.
        let _syncing = self.tasks.syncing.lock().await;
        if !self.tasks.stop.is_cancelled() {
            let host: Arc<dyn TriggerHost> = Arc::new(self.clone());
            let specs = self.background_specs().await;
            let tasks = &self.tasks;
            tasks
                .triggers
                .sync(&host, &specs, &tasks.tracker, &tasks.stop);
        }
    }

    /// Starts and stops installations' schedules and polls as
    /// installations change, until the engine stops.
    fn follow_installations(&self) {
        let engine = self.clone();
        let changes = self.installations.changes();
        let stop = self.tasks.stop.clone();
        self.tasks.tracker.spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = changes.notified() => engine.sync_background_triggers().await,
                }
            }
        });
    }

    /// The background triggers to run: each loaded workflow's that is not
    /// installed per customer, and each enabled installation's, at its own
    /// place in its trigger's jitter window, on its own connection.
    async fn background_specs(&self) -> Vec<BackgroundSpec> {
        let set = self.workflows();
        let mut specs: Vec<BackgroundSpec> = set
            .ready
            .iter()
            .filter(|(_, prepared)| !prepared.workflow.is_installable())
            .map(|(id, prepared)| BackgroundSpec {
                key: id.clone(),
                target: RunFor::workflow(id),
                trigger: prepared.workflow.trigger.clone(),
                connection: None,
                offset: Duration::ZERO,
            })
            .collect();
        for installation in self.executor.installations.all() {
            let record = &installation.record;
            let Some(loaded) = set.ready.get(&record.workflow) else {
                continue;
            };
            if record.status != InstallationStatus::Enabled
                || !matches!(
                    loaded.workflow.trigger,
                    Trigger::Schedule(_)
                        | Trigger::SalesforcePoll(_)
                        | Trigger::SalesforceEvents(_)
                )
            {
                continue;
            }
            let pinned = match self
                .executor
                .pinned(loaded.clone(), &record.workflow_version)
                .await
            {
                Ok(pinned) => pinned,
                Err(error) => {
                    tracing::error!(installation = %record.id, %error, "The installation's trigger cannot run.");
                    continue;
                }
            };
            let connection = match record.connection(SALESFORCE_SLOT) {
                Some(id) => match self.connections.client(id.as_str()).await {
                    Ok(client) => Some((id.to_string(), client)),
                    Err(error) => {
                        tracing::error!(installation = %record.id, %error, "The installation's connection cannot be reached; its trigger waits.");
                        continue;
                    }
                },
                None => None,
            };
            let trigger = pinned.workflow.trigger.clone();
            specs.push(BackgroundSpec {
                key: lane(&record.workflow, Some(&record.id)),
                target: RunFor::installation(record),
                offset: record.id.place_in(trigger.jitter()),
                trigger,
                connection,
            });
        }
        specs
    }

    /// What workflow `id`'s schedule or poll is doing: its next fire, its
    /// last error, a poll's position; `None` for other triggers.
    pub fn trigger_status(&self, id: &str) -> Option<TriggerStatus> {
        self.tasks.triggers.status(id)
    }

    /// What every schedule and poll is doing, by key: a workflow id, or
    /// `workflow/installation` for an installation's (see
    /// [`crate::model::split_lane`]).
    pub fn trigger_statuses(&self) -> std::collections::BTreeMap<String, TriggerStatus> {
        self.tasks.triggers.statuses()
    }

    /// The loaded workflows and the files that failed.
    pub fn workflows(&self) -> Arc<WorkflowSet> {
        self.executor.workflows.get()
    }

    /// Stores an event for `workflow` durably and queues its run. With a
    /// `dedupe_key` already used for this workflow, nothing is stored and
    /// the earlier run is returned.
    pub async fn submit(
        &self,
        workflow: &str,
        event: Value,
        dedupe_key: Option<String>,
    ) -> Result<Accepted, SubmitError> {
        if !self.executor.workflows.get().ready.contains_key(workflow) {
            return Err(SubmitError::UnknownWorkflow(workflow.to_owned()));
        }
        self.executor
            .submit_one(&RunFor::workflow(workflow), (event, dedupe_key))
            .await
    }

    /// Waits up to `timeout` for `run` to end; `None` if it has not.
    pub async fn wait(
        &self,
        run: RunId,
        timeout: Duration,
    ) -> Result<Option<RunRecord>, StoreError> {
        let ended = self.executor.watchers.watch(run);
        let record = self.executor.store.run(run).await?;
        if let Some(record) = record.filter(|record| record.status.is_final()) {
            self.executor.watchers.forget_closed(run);
            return Ok(Some(record));
        }
        let result = tokio::time::timeout(timeout, ended).await;
        self.executor.watchers.forget_closed(run);
        Ok(result.ok().and_then(Result::ok))
    }

    /// A run with its event and steps.
    pub async fn run_detail(&self, id: RunId) -> Result<Option<RunDetail>, StoreError> {
        let Some(mut detail) = self.executor.store.detail(id).await? else {
            return Ok(None);
        };
        self.overlay(&mut detail.run);
        Ok(Some(detail))
    }

    /// A page of runs, newest first.
    ///
    /// Whether a run is running is known here, not stored: the store keeps
    /// an unfinished run as queued or retrying. Unfinished runs are listed
    /// by [`Store::unfinished_runs`].
    pub async fn runs(&self, query: &RunQuery) -> Result<RunPage, StoreError> {
        let store = &self.executor.store;
        if query.status.is_none_or(RunStatus::is_final) {
            let mut page = store.list(query).await?;
            for run in &mut page.runs {
                self.overlay(run);
            }
            return Ok(page);
        }
        // Read page by page until one past the page's end has the status
        // asked for: `gather` needs no more. Unfinished runs are few (the
        // queue is bounded), so they are all looked at.
        let mut unfinished = RunQuery {
            status: None,
            event_contains: None,
            examine: None,
            ..query.clone()
        };
        let query = RunQuery {
            examine: None,
            ..query.clone()
        };
        let (mut runs, mut kept) = (Vec::new(), 0);
        'pages: loop {
            let page = store.unfinished_runs(&unfinished).await?;
            for mut run in page.runs {
                self.overlay(&mut run);
                if let Some(search) = &query.event_contains
                    && !self.event_holds(run.id, search).await?
                {
                    continue;
                }
                kept += usize::from(query.keeps(&run));
                runs.push(Ok(run));
                if kept > query.limit {
                    break 'pages;
                }
            }
            match page.next_cursor {
                Some(next) => unfinished.before = Some(next),
                None => break,
            }
        }
        RunPage::gather(runs, &query, |_| Ok(true))
    }

    /// Whether run `id`'s stored event holds what `search` looks for.
    async fn event_holds(&self, id: RunId, search: &EventSearch) -> Result<bool, StoreError> {
        let Some(detail) = self.executor.store.detail(id).await? else {
            return Ok(false);
        };
        let event = serde_json::to_vec(&detail.event)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        Ok(search.matches(&event))
    }

    /// Every change of a run from now on (accepted, running, a step's
    /// end, its end), as it happens; a follower that falls a thousand
    /// changes behind is told how many it missed
    /// ([`tokio::sync::broadcast::error::RecvError::Lagged`]).
    pub fn run_changes(&self) -> tokio::sync::broadcast::Receiver<RunRecord> {
        self.executor.feed.follow()
    }

    /// Marks an unfinished run that a worker has as running.
    fn overlay(&self, run: &mut RunRecord) {
        if !run.status.is_final() && self.executor.queue.is_running(run.id) {
            run.status = RunStatus::Running;
        }
    }

    /// Runs the event of run `id` again as a new run, with no journal: its
    /// steps call Salesforce afresh (see [`Engine::resume`]).
    pub async fn replay(&self, id: RunId) -> Result<RunRecord, SubmitError> {
        let original = self
            .executor
            .store
            .detail(id)
            .await?
            .ok_or(SubmitError::UnknownRun(id))?;
        let event = original.event;
        let mut record = RunRecord::queued(RunId::new(), &original.run.workflow);
        record.replay_of = Some(id);
        record.tenant = original.run.tenant;
        record.installation = original.run.installation;
        let accepted = self.executor.accept(NewRun { record, event }).await?;
        Ok(accepted.run().clone())
    }

    /// Resumes failed run `id` at its failed step, which runs again with a
    /// fresh retry budget and its Salesforce call journal: the calls that
    /// succeeded before are answered from it, so fixing the data in
    /// Salesforce and resuming writes nothing twice.
    pub async fn resume(&self, id: RunId) -> Result<RunRecord, SubmitError> {
        self.executor.resume(id).await
    }

    /// Runs accepted and not finished, against `max_backlog`.
    pub fn backlog(&self) -> BacklogView {
        let (waiting, running) = self.executor.queue.counts();
        BacklogView {
            runs: self.executor.backlog.len(),
            bound: self.executor.backlog.bound(),
            waiting,
            running,
        }
    }

    /// The metrics in Prometheus text format.
    pub async fn metrics(&self) -> String {
        let backlog = self.backlog();
        let queue = QueueGauges {
            waiting: backlog.waiting,
            running: backlog.running,
            backlog: backlog.runs,
            bound: backlog.bound,
        };
        let flushes = self.executor.store.flushes();
        self.executor.metrics.gauges(queue, flushes);
        self.executor
            .metrics
            .salesforce(self.config.salesforce.stats());
        match self.connections.totals().await {
            Ok((by_status, refreshes)) => {
                let by_status: Vec<_> = by_status
                    .iter()
                    .map(|(status, count)| (status.as_str(), *count))
                    .collect();
                self.executor.metrics.connections(&by_status, refreshes);
            }
            Err(error) => tracing::error!(%error, "The connection totals could not be read."),
        }
        self.executor.metrics.encode()
    }

    /// Stops starting runs, waits up to the shutdown grace for runs in
    /// flight, cuts off the rest (they resume on the next start) and
    /// flushes the store.
    pub async fn shutdown(&self) {
        self.tasks.stop.cancel();
        let dispatcher = self
            .tasks
            .dispatcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(dispatcher) = dispatcher
            && let Err(error) = dispatcher.await
        {
            tracing::error!(%error, "The dispatcher panicked.");
        }
        self.tasks.tracker.close();
        if tokio::time::timeout(self.config.shutdown_grace, self.tasks.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "Runs still in flight after the shutdown grace were cut off; they resume on the next start."
            );
            self.tasks.abort.cancel();
            self.tasks.tracker.wait().await;
        }
        if let Err(error) = self.executor.store.flush().await {
            tracing::error!(%error, "The final flush failed.");
        }
        // On a shared store, the runs left (waiting for a retry) go to the
        // other nodes now rather than when this one's lease lapses.
        match self.executor.store.release().await {
            Ok(0) => {}
            Ok(released) => tracing::info!(
                released,
                "Released this node's unfinished runs to the other nodes."
            ),
            Err(error) => {
                tracing::warn!(%error, "This node's unfinished runs could not be released; the other nodes take them over when its lease lapses.")
            }
        }
    }
}

/// How long a run with a dedupe key is kept at least, whatever the
/// retention: Salesforce redelivers an Outbound Message for 24 hours.
const DEDUPE_WINDOW: Duration = Duration::from_secs(25 * 3600);

/// Prunes finished runs older than `retention`, now and then.
async fn prune(executor: Arc<Executor>, retention: Duration, stop: CancellationToken) {
    let every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    let ago = |age: Duration| {
        chrono::TimeDelta::from_std(age)
            .ok()
            .and_then(|age| now().checked_sub_signed(age))
    };
    loop {
        let cutoffs = ago(retention).zip(ago(retention.max(DEDUPE_WINDOW)));
        let pruned = match cutoffs {
            Some((before, deduplicated)) => executor.store.prune(before, deduplicated).await,
            None => Ok(0),
        };
        match pruned {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "Pruned finished runs past retention."),
            Err(error) => tracing::error!(%error, "Pruning runs failed."),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// What triggers get of the engine: its workflows, its intake, their
/// state, its connection.
#[async_trait::async_trait]
impl TriggerHost for Engine {
    fn workflow(&self, id: &str) -> Option<Arc<Workflow>> {
        self.executor
            .workflows
            .ready(id)
            .map(|prepared| prepared.workflow)
    }

    fn installation(&self, id: &InstallationId) -> Option<Arc<Installation>> {
        self.executor.installations.get(id)
    }

    async fn submit(
        &self,
        target: &RunFor,
        events: Vec<NewEvent>,
        state: Vec<StateWrite>,
    ) -> Result<Vec<Accepted>, SubmitError> {
        self.executor.submit_all(target, events, state).await
    }

    async fn submit_one(&self, target: &RunFor, event: NewEvent) -> Result<Accepted, SubmitError> {
        self.executor.submit_one(target, event).await
    }

    async fn hold_trigger(&self, scope: &str) -> Result<bool, StoreError> {
        self.executor.store.hold_trigger(scope).await
    }

    async fn state(&self, scope: &str, key: &str) -> Result<Option<String>, StoreError> {
        StateStore::get(self.executor.store.as_ref(), scope, key).await
    }

    async fn wait(&self, run: RunId, timeout: Duration) -> Result<Option<RunRecord>, StoreError> {
        Engine::wait(self, run, timeout).await
    }

    fn sync_timeout(&self) -> Duration {
        self.config.sync_timeout
    }

    fn pubsub_endpoint(&self) -> gust_pubsub::client::Endpoint {
        self.config.pubsub.clone()
    }

    async fn connection(
        &self,
        id: &str,
    ) -> Result<(Arc<dyn SalesforceService>, Option<String>), String> {
        let client = self
            .connections
            .client(id)
            .await
            .map_err(|error| error.to_string())?;
        let org = self
            .connections
            .get(id)
            .await
            .ok()
            .and_then(|view| view.org_id);
        Ok((client, org))
    }

    fn salesforce(&self) -> Arc<dyn SalesforceService> {
        self.config.salesforce.clone()
    }
}
