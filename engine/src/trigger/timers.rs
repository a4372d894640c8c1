//! The triggers that start runs on their own, on a clock: schedules and
//! Salesforce polls. One task per loaded workflow with such a trigger,
//! started when the workflow loads and stopped when it is removed or its
//! trigger changes; the new task waits for the old one to end, so one
//! workflow never has two.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::Engine;
use crate::workflow::Trigger;

/// What a timed trigger is doing, for the admin API.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimerStatus {
    /// When it fires (or polls) next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_fire_at: Option<DateTime<Utc>>,
    /// When it last fired (or polled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_fired_at: Option<DateTime<Utc>>,
    /// Why its last attempt failed, until one succeeds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// A poll's stored position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Value>,
}

/// A timed trigger's handle on its own status.
#[derive(Clone)]
pub(crate) struct StatusCell(Arc<Mutex<TimerStatus>>);

impl StatusCell {
    /// Changes the status.
    pub(crate) fn update(&self, change: impl FnOnce(&mut TimerStatus)) {
        change(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn get(&self) -> TimerStatus {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

struct Running {
    trigger: Trigger,
    stop: CancellationToken,
    task: JoinHandle<()>,
    status: StatusCell,
}

/// The running timed triggers, by workflow id.
#[derive(Default)]
pub(crate) struct Timers {
    running: Mutex<HashMap<String, Running>>,
}

impl Timers {
    fn running(&self) -> MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts, keeps or stops tasks so that each loaded workflow with a
    /// timed trigger has exactly one, running its current trigger.
    pub(crate) fn sync(&self, engine: &Engine, tracker: &TaskTracker, stop: &CancellationToken) {
        let set = engine.workflows();
        let mut running = self.running();
        let gone: Vec<String> = running
            .iter()
            .filter(|(id, task)| {
                set.ready
                    .get(*id)
                    .is_none_or(|prepared| prepared.workflow.trigger != task.trigger)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut ending: HashMap<String, JoinHandle<()>> = HashMap::new();
        for id in gone {
            if let Some(task) = running.remove(&id) {
                task.stop.cancel();
                ending.insert(id, task.task);
            }
        }
        for (id, prepared) in &set.ready {
            let trigger = &prepared.workflow.trigger;
            if running.contains_key(id)
                || !matches!(trigger, Trigger::Schedule(_) | Trigger::SalesforcePoll(_))
            {
                continue;
            }
            let status = StatusCell(Arc::default());
            let task_stop = stop.child_token();
            let previous = ending.remove(id);
            let task = tracker.spawn(run(
                engine.clone(),
                id.clone(),
                trigger.clone(),
                status.clone(),
                task_stop.clone(),
                previous,
            ));
            running.insert(
                id.clone(),
                Running {
                    trigger: trigger.clone(),
                    stop: task_stop,
                    task,
                    status,
                },
            );
        }
    }

    /// The status of workflow `id`'s timed trigger, if it has one running.
    pub(crate) fn status(&self, id: &str) -> Option<TimerStatus> {
        self.running().get(id).map(|task| task.status.get())
    }
}

/// Waits for the workflow's previous task to end, then runs its trigger
/// until `stop`.
async fn run(
    engine: Engine,
    workflow: String,
    trigger: Trigger,
    status: StatusCell,
    stop: CancellationToken,
    previous: Option<JoinHandle<()>>,
) {
    if let Some(previous) = previous
        && let Err(error) = previous.await
    {
        tracing::error!(workflow, %error, "The previous trigger task panicked.");
    }
    match trigger {
        Trigger::Schedule(schedule) => {
            super::schedule::run(engine, workflow, schedule, status, stop).await;
        }
        Trigger::SalesforcePoll(poll) => {
            super::salesforce_poll::run(engine, workflow, poll, status, stop).await;
        }
        Trigger::Webhook(_) | Trigger::OutboundMessage(_) | Trigger::Manual(_) => {}
    }
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
