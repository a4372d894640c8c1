//! The server's Prometheus metrics, served at `/metrics` in the text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::model::RunStatus;
use crate::salesforce::ConnectionStats;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkflowLabels {
    workflow: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    workflow: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    workflow: String,
    step: String,
}

type StepHistograms = Family<StepLabels, Histogram, fn() -> Histogram>;

/// The queue's figures, read at scrape time.
pub(crate) struct QueueGauges {
    /// Runs in memory waiting to start.
    pub(crate) waiting: usize,
    /// Runs running.
    pub(crate) running: usize,
    /// Runs accepted and not finished.
    pub(crate) backlog: usize,
    /// The bound on `backlog`.
    pub(crate) bound: usize,
}

/// Every metric the server keeps.
pub(crate) struct Metrics {
    registry: Registry,
    events_accepted: Family<WorkflowLabels, Counter>,
    events_duplicate: Family<WorkflowLabels, Counter>,
    runs_finished: Family<RunLabels, Counter>,
    step_duration: StepHistograms,
    step_retries: Family<StepLabels, Counter>,
    queue_depth: Gauge,
    runs_running: Gauge,
    backlog_runs: Gauge,
    backlog_bound: Gauge,
    store_flushes: Gauge,
    salesforce: SalesforceGauges,
    connections: Family<ConnectionLabels, Gauge>,
    connection_refreshes: Gauge,
}

/// The labels of the connection totals: their status only, so that the
/// series stay few however many connections there are.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    status: String,
}

/// The Salesforce connection's figures, set at scrape time.
#[derive(Default)]
struct SalesforceGauges {
    api_used: Gauge,
    api_max: Gauge,
    requests: Gauge,
    retries: Gauge,
    refreshes: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("gust");
        let events_accepted = Family::default();
        registry.register(
            "events_accepted",
            "Events durably stored, each starting a run",
            events_accepted.clone(),
        );
        let events_duplicate = Family::default();
        registry.register(
            "events_duplicate",
            "Events whose dedupe key named a run already stored",
            events_duplicate.clone(),
        );
        let runs_finished = Family::default();
        registry.register(
            "runs_finished",
            "Runs that ended, by final status",
            runs_finished.clone(),
        );
        let step_duration: StepHistograms =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_05, 2.5, 14)));
        registry.register(
            "step_attempt_duration_seconds",
            "Time of one step attempt, instantiation included",
            step_duration.clone(),
        );
        let step_retries = Family::default();
        registry.register(
            "step_retries",
            "Step attempts that failed and were scheduled again",
            step_retries.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Runs waiting for a worker or for their next attempt",
            queue_depth.clone(),
        );
        let runs_running = Gauge::default();
        registry.register("runs_running", "Runs being run now", runs_running.clone());
        let backlog_runs = Gauge::default();
        registry.register(
            "backlog_runs",
            "Runs accepted and not finished",
            backlog_runs.clone(),
        );
        let backlog_bound = Gauge::default();
        registry.register(
            "backlog_bound",
            "The most runs accepted and not finished (max_backlog); past it events are refused",
            backlog_bound.clone(),
        );
        let store_flushes = Gauge::default();
        registry.register(
            "store_flushes",
            "Durable flushes of the store since it opened; each acknowledges a group of writes",
            store_flushes.clone(),
        );
        let salesforce = SalesforceGauges::default();
        for (name, help, gauge) in [
            (
                "salesforce_api_requests_used",
                "The org's API requests used in the last 24 hours, from Sforce-Limit-Info",
                &salesforce.api_used,
            ),
            (
                "salesforce_api_requests_max",
                "The org's daily API request allowance, from Sforce-Limit-Info",
                &salesforce.api_max,
            ),
            (
                "salesforce_requests",
                "HTTP requests sent to Salesforce since start (logins not included)",
                &salesforce.requests,
            ),
            (
                "salesforce_retries",
                "Salesforce calls attempted again after a transient failure",
                &salesforce.retries,
            ),
            (
                "salesforce_token_refreshes",
                "Access tokens fetched again after Salesforce refused one",
                &salesforce.refreshes,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
        let connections = Family::default();
        registry.register(
            "connections",
            "Stored Salesforce connections, by status",
            connections.clone(),
        );
        let connection_refreshes = Gauge::default();
        registry.register(
            "connection_token_refreshes",
            "Access tokens of stored connections refreshed since start",
            connection_refreshes.clone(),
        );
        Self {
            salesforce,
            connections,
            connection_refreshes,
            registry,
            events_accepted,
            events_duplicate,
            runs_finished,
            step_duration,
            step_retries,
            queue_depth,
            runs_running,
            backlog_runs,
            backlog_bound,
            store_flushes,
        }
    }

    pub(crate) fn event_accepted(&self, workflow: &str, duplicate: bool) {
        let labels = WorkflowLabels {
            workflow: workflow.to_owned(),
        };
        let family = if duplicate {
            &self.events_duplicate
        } else {
            &self.events_accepted
        };
        family.get_or_create(&labels).inc();
    }

    pub(crate) fn run_finished(&self, workflow: &str, status: RunStatus) {
        let labels = RunLabels {
            workflow: workflow.to_owned(),
            status: status.as_str().to_owned(),
        };
        self.runs_finished.get_or_create(&labels).inc();
    }

    pub(crate) fn step_attempt(&self, workflow: &str, step: &str, seconds: f64, retried: bool) {
        let labels = StepLabels {
            workflow: workflow.to_owned(),
            step: step.to_owned(),
        };
        self.step_duration.get_or_create(&labels).observe(seconds);
        if retried {
            self.step_retries.get_or_create(&labels).inc();
        }
    }

    /// Sets the gauges read at scrape time.
    pub(crate) fn gauges(&self, queue: QueueGauges, flushes: u64) {
        let set = |gauge: &Gauge, value: usize| gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        set(&self.queue_depth, queue.waiting);
        set(&self.runs_running, queue.running);
        set(&self.backlog_runs, queue.backlog);
        set(&self.backlog_bound, queue.bound);
        self.store_flushes
            .set(i64::try_from(flushes).unwrap_or(i64::MAX));
    }

    /// Sets the Salesforce connection's gauges, when there is a connection.
    pub(crate) fn salesforce(&self, stats: Option<ConnectionStats>) {
        let Some(stats) = stats else {
            return;
        };
        let gauges = &self.salesforce;
        let set = |gauge: &Gauge, value: u64| gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        if let Some(usage) = stats.api_usage {
            set(&gauges.api_used, usage.used);
            set(&gauges.api_max, usage.max);
        }
        set(&gauges.requests, stats.requests);
        set(&gauges.retries, stats.retries);
        set(&gauges.refreshes, stats.refreshes);
    }

    /// Sets the stored connections' totals: how many have each status, and
    /// the tokens refreshed.
    pub(crate) fn connections(&self, by_status: &[(&str, u64)], refreshes: u64) {
        for (status, count) in by_status {
            let labels = ConnectionLabels {
                status: (*status).to_owned(),
            };
            self.connections
                .get_or_create(&labels)
                .set(i64::try_from(*count).unwrap_or(i64::MAX));
        }
        self.connection_refreshes
            .set(i64::try_from(refreshes).unwrap_or(i64::MAX));
    }

    /// The metrics in Prometheus text format.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}
