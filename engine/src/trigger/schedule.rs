//! The schedule trigger: a run at each fire of a cron expression (see
//! [`Cadence`] for time zones and daylight saving).
//!
//! The trigger keeps one durable value, `through`: every fire at or before
//! it has been handled. A fire's event and the move of `through` to it are
//! one atomic write, so a restart never fires it again, and fires missed
//! while Gust was down are found from it on start: `skip` logs and skips
//! them, `catch_up` runs the latest `max_catch_up` of them.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::cadence::Cadence;
use super::timers::{StatusCell, pause, sleep_until};
use crate::Engine;
use crate::model::now;
use crate::workflow::{DEFAULT_MAX_CATCH_UP, MissedFires, ScheduleTrigger};

/// A wake this late means the process (or the machine) was stopped: the
/// fires in between are missed fires, handled by the policy.
const SUSPENDED_AFTER: TimeDelta = TimeDelta::seconds(60);
/// How long to wait before trying a failed store write again.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The trigger's type, naming its state.
const KIND: &str = "schedule";

/// The durable state of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct ScheduleState {
    /// Every fire at or before this time has run or been skipped.
    through: DateTime<Utc>,
}

/// The event of the fire scheduled at `scheduled`: both times in RFC 3339,
/// in the schedule's time zone.
fn fire_event(cadence: &Cadence, scheduled: DateTime<Utc>, fired: DateTime<Utc>) -> Value {
    let zone = cadence.zone();
    json!({
        "scheduled_at": scheduled.with_timezone(&zone).to_rfc3339_opts(SecondsFormat::Secs, false),
        "fired_at": fired.with_timezone(&zone).to_rfc3339_opts(SecondsFormat::Millis, false),
    })
}

/// Runs workflow `workflow`'s schedule until `stop`.
pub(crate) async fn run(
    engine: Engine,
    workflow: String,
    trigger: ScheduleTrigger,
    status: StatusCell,
    stop: CancellationToken,
) {
    let cadence = match Cadence::new(&trigger.cron, trigger.timezone.as_deref()) {
        Ok(cadence) => cadence,
        Err(error) => {
            tracing::error!(workflow, %error, "The schedule cannot run.");
            return;
        }
    };
    let schedule = Schedule {
        engine,
        workflow,
        trigger,
        cadence,
        status,
    };
    let started = now();
    let Some(mut through) = schedule.through(started, &stop).await else {
        return;
    };
    if through < started {
        match schedule.missed(through, started, &stop).await {
            Some(handled) => through = handled,
            None => return,
        }
    }
    loop {
        let Some(next) = schedule.cadence.next_after(through) else {
            tracing::info!(
                workflow = schedule.workflow,
                "The schedule has no more fires."
            );
            schedule.status.update(|status| status.next_fire_at = None);
            return;
        };
        schedule
            .status
            .update(|status| status.next_fire_at = Some(next));
        if !sleep_until(next, &stop).await {
            return;
        }
        let woke = now();
        let handled = if woke - next > SUSPENDED_AFTER {
            schedule.missed(through, woke, &stop).await
        } else {
            schedule.fire(next, &stop).await.then_some(next)
        };
        match handled {
            Some(handled) => through = handled,
            None => return,
        }
    }
}

struct Schedule {
    engine: Engine,
    workflow: String,
    trigger: ScheduleTrigger,
    cadence: Cadence,
    status: StatusCell,
}

impl Schedule {
    /// The stored `through`; on the first start, `started`, stored. `None`
    /// when stopped first.
    async fn through(
        &self,
        started: DateTime<Utc>,
        stop: &CancellationToken,
    ) -> Option<DateTime<Utc>> {
        loop {
            match self
                .engine
                .trigger_state::<ScheduleState>(&self.workflow, KIND)
            {
                Ok(Some(state)) => return Some(state.through),
                Ok(None) => {
                    if self.store(Vec::new(), started, stop).await {
                        return Some(started);
                    }
                    return None;
                }
                Err(error) => {
                    self.failed(format!("cannot read the schedule's state: {error}"));
                    if !pause(stop, RETRY_AFTER).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Handles the fires after `through` and at or before `until`, missed
    /// while down, by the policy; the new `through` (`until`), or `None`
    /// when stopped first.
    async fn missed(
        &self,
        through: DateTime<Utc>,
        until: DateTime<Utc>,
        stop: &CancellationToken,
    ) -> Option<DateTime<Utc>> {
        let workflow = self.workflow.as_str();
        match self.trigger.missed {
            MissedFires::Skip => {
                if let Some(latest) = self.cadence.latest_between(through, until, 1).pop() {
                    tracing::warn!(
                        workflow,
                        since = %through,
                        latest = %latest,
                        "Skipped the schedule's fires missed while Gust was not running (\"missed\": \"skip\")."
                    );
                }
            }
            MissedFires::CatchUp => {
                let limit = self.trigger.max_catch_up.unwrap_or(DEFAULT_MAX_CATCH_UP);
                let limit = usize::try_from(limit).unwrap_or(usize::MAX);
                let fires = self.cadence.latest_between(through, until, limit);
                if fires.len() == limit
                    && !self.cadence.latest_between(through, fires[0], 1).is_empty()
                {
                    tracing::warn!(
                        workflow,
                        since = %through,
                        kept = limit,
                        "More fires were missed than `max_catch_up`; only the latest run."
                    );
                }
                for fire in fires {
                    if !self.fire(fire, stop).await {
                        return None;
                    }
                }
            }
        }
        self.store(Vec::new(), until, stop).await.then_some(until)
    }

    /// Stores the event of the fire at `scheduled` with `through` moved to
    /// it; false when stopped first.
    async fn fire(&self, scheduled: DateTime<Utc>, stop: &CancellationToken) -> bool {
        let fired = now();
        let event = fire_event(&self.cadence, scheduled, fired);
        let dedupe_key = scheduled.to_rfc3339_opts(SecondsFormat::Secs, true);
        let stored = self
            .store(vec![(event, Some(dedupe_key))], scheduled, stop)
            .await;
        if stored {
            self.status
                .update(|status| status.last_fired_at = Some(fired));
        }
        stored
    }

    /// Stores `events` and `through` in one durable write, trying again
    /// until it succeeds; false when stopped first.
    async fn store(
        &self,
        events: Vec<(Value, Option<String>)>,
        through: DateTime<Utc>,
        stop: &CancellationToken,
    ) -> bool {
        let state = ScheduleState { through };
        loop {
            let stored = match Engine::trigger_state_write(&self.workflow, KIND, Some(&state)) {
                Ok(write) => {
                    self.engine
                        .submit_all(&self.workflow, events.clone(), vec![write])
                        .await
                }
                Err(error) => Err(error),
            };
            match stored {
                Ok(_) => {
                    self.status.update(|status| status.last_error = None);
                    return true;
                }
                Err(error) => {
                    self.failed(format!("cannot store the schedule's fire: {error}"));
                    if !pause(stop, RETRY_AFTER).await {
                        return false;
                    }
                }
            }
        }
    }

    fn failed(&self, error: String) {
        tracing::error!(workflow = self.workflow, %error, "The schedule failed; trying again.");
        self.status.update(|status| status.last_error = Some(error));
    }
}
