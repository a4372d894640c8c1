//! The triggers that start runs on their own, rather than on a request:
//! schedules, Salesforce polls and Salesforce events subscriptions, each a
//! [`BackgroundTrigger`]. The
//! [`Supervisor`] keeps one task per [`BackgroundSpec`] (a loaded
//! workflow with such a trigger, or one enabled installation of an
//! installed one), started when it appears and stopped when it goes or
//! changes; the new task waits for the old one to end, so one workflow or
//! installation never has two.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::context::{TriggerContext, TriggerHost};
use super::definition::Trigger;
use crate::api::TriggerStatus;
use crate::runtime::RunFor;
use crate::salesforce::SalesforceService;

/// A trigger that runs on its own until stopped, handed only its context.
pub(crate) trait BackgroundTrigger: Send + 'static {
    /// The trigger's type, as workflows name it; it also names its state.
    const KIND: &'static str;

    /// Runs until `stop` is cancelled.
    fn run(
        self,
        context: TriggerContext,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + Send;
}

/// A background trigger's handle on its own status.
#[derive(Clone)]
pub(crate) struct StatusCell(Arc<Mutex<TriggerStatus>>);

impl StatusCell {
    /// Changes the status.
    pub(crate) fn update(&self, change: impl FnOnce(&mut TriggerStatus)) {
        change(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn get(&self) -> TriggerStatus {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A background trigger to keep running: a workflow's, or one
/// installation's.
#[derive(Clone)]
pub(crate) struct BackgroundSpec {
    /// Its key: the workflow id, or `workflow/installation`.
    pub(crate) key: String,
    /// Whom its runs are for.
    pub(crate) target: RunFor,
    /// The trigger.
    pub(crate) trigger: Trigger,
    /// The installation's connection and its id, in place of the server's.
    pub(crate) connection: Option<(String, Arc<dyn SalesforceService>)>,
    /// How long after each nominal fire time it fires: an installation's
    /// place in its schedule's jitter window.
    pub(crate) offset: Duration,
}

impl BackgroundSpec {
    /// Whether `running` runs this same trigger, connection and offset.
    fn same(&self, running: &Running) -> bool {
        running.trigger == self.trigger
            && running.connection == self.connection.as_ref().map(|(id, _)| id.clone())
            && running.offset == self.offset
    }
}

struct Running {
    trigger: Trigger,
    connection: Option<String>,
    offset: Duration,
    stop: CancellationToken,
    task: JoinHandle<()>,
    status: StatusCell,
}

/// The running background triggers, by key.
#[derive(Default)]
pub(crate) struct Supervisor {
    running: Mutex<HashMap<String, Running>>,
}

impl Supervisor {
    fn running(&self) -> MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts, keeps or stops tasks so that each of `specs` with a
    /// background trigger has exactly one, running its current trigger.
    pub(crate) fn sync(
        &self,
        host: &Arc<dyn TriggerHost>,
        specs: &[BackgroundSpec],
        tracker: &TaskTracker,
        stop: &CancellationToken,
    ) {
        let wanted: HashMap<&str, &BackgroundSpec> =
            specs.iter().map(|spec| (spec.key.as_str(), spec)).collect();
        let mut running = self.running();
        let gone: Vec<String> = running
            .iter()
            .filter(|(key, task)| wanted.get(key.as_str()).is_none_or(|spec| !spec.same(task)))
            .map(|(key, _)| key.clone())
            .collect();
        let mut ending: HashMap<String, JoinHandle<()>> = HashMap::new();
        for id in gone {
            if let Some(task) = running.remove(&id) {
                task.stop.cancel();
                ending.insert(id, task.task);
            }
        }
        for spec in specs {
            if running.contains_key(&spec.key) {
                continue;
            }
            let status = StatusCell(Arc::default());
            let task_stop = stop.child_token();
            let context =
                TriggerContext::new(host.clone(), spec, status.clone(), task_stop.clone());
            let Some(work) = work(&spec.trigger, context, task_stop.clone()) else {
                continue;
            };
            let previous = ending.remove(&spec.key);
            let task = tracker.spawn(after(previous, spec.key.clone(), work));
            running.insert(
                spec.key.clone(),
                Running {
                    trigger: spec.trigger.clone(),
                    connection: spec.connection.as_ref().map(|(id, _)| id.clone()),
                    offset: spec.offset,
                    stop: task_stop,
                    task,
                    status,
                },
            );
        }
    }

    /// The status of every background trigger, by key.
    pub(crate) fn statuses(&self) -> BTreeMap<String, TriggerStatus> {
        self.running()
            .iter()
            .map(|(key, task)| (key.clone(), task.status.get()))
            .collect()
    }

    /// The status of the background trigger of `key` (a workflow id, or
    /// `workflow/installation`), if it has one.
    pub(crate) fn status(&self, key: &str) -> Option<TriggerStatus> {
        self.running().get(key).map(|task| task.status.get())
    }
}

/// What `trigger` does on its own until `stop`; `None` for a trigger that
/// only answers requests. The one place that says which triggers run in
/// the background.
fn work(
    trigger: &Trigger,
    context: TriggerContext,
    stop: CancellationToken,
) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
    match trigger.clone() {
        Trigger::Schedule(schedule) => Some(Box::pin(schedule.run(context, stop))),
        Trigger::SalesforcePoll(poll) => Some(Box::pin(poll.run(context, stop))),
        Trigger::SalesforceEvents(events) => Some(Box::pin(events.run(context, stop))),
        Trigger::Webhook(_) | Trigger::OutboundMessage(_) | Trigger::Manual(_) => None,
    }
}

/// Waits for the previous task of `key` to end, then does `work`.
async fn after(previous: Option<JoinHandle<()>>, key: String, work: impl Future<Output = ()>) {
    if let Some(previous) = previous
        && let Err(error) = previous.await
    {
        tracing::error!(trigger = key, %error, "The previous trigger task panicked.");
    }
    work.await;
}

/// Sleeps until `at` by the wall clock, or until `stop`; false when
/// stopped. Long waits are cut in steps, so that a clock that is set or a
/// machine that sleeps does not make the wake late.
pub(crate) async fn sleep_until(at: DateTime<Utc>, stop: &CancellationToken) -> bool {
    const STEP: std::time::Duration = std::time::Duration::from_secs(30);
    loop {
        let Ok(left) = (at - Utc::now()).to_std() else {
            return !stop.is_cancelled();
        };
        if left.is_zero() {
            return !stop.is_cancelled();
        }
        tokio::select! {
            () = stop.cancelled() => return false,
            () = tokio::time::sleep(left.min(STEP)) => {}
        }
    }
}

/// Waits `wait` before another try; false when stopped first.
pub(crate) async fn pause(stop: &CancellationToken, wait: std::time::Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(wait) => true,
    }
}
