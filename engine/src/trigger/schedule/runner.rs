//! A schedule's task: fires at each time of its cadence, catching up or
//! skipping fires missed while Gust was down.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use tokio_util::sync::CancellationToken;

use super::cadence::Cadence;
use super::config::{DEFAULT_MAX_CATCH_UP, MissedFires, ScheduleTrigger};
use crate::model::now;
use crate::runtime::NewEvent;
use crate::trigger::background::{BackgroundTrigger, pause, sleep_until};
use crate::trigger::context::TriggerContext;

/// A wake this late means the process (or the machine) was stopped: the
/// fires in between are missed fires, handled by the policy.
const SUSPENDED_AFTER: TimeDelta = TimeDelta::seconds(60);
/// How long to wait before trying a failed store write again.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The durable state of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct ScheduleState {
    /// Every fire at or before this time has run or been skipped.
    through: DateTime<Utc>,
}

impl BackgroundTrigger for ScheduleTrigger {
    const KIND: &'static str = super::KIND;

    async fn run(self, context: TriggerContext, stop: CancellationToken) {
        let cadence = match Cadence::new(&self.cron, self.timezone.as_deref()) {
            Ok(cadence) => cadence,
            Err(error) => {
                let workflow = context.workflow();
                tracing::error!(workflow, %error, "The schedule cannot run.");
                return;
            }
        };
        let schedule = Schedule {
            context,
            trigger: self,
            cadence,
        };
        schedule.run(&stop).await;
    }
}

struct Schedule {
    context: TriggerContext,
    trigger: ScheduleTrigger,
    cadence: Cadence,
}

impl Schedule {
    /// Fires until `stop`.
    async fn run(&self, stop: &CancellationToken) {
        let started = now();
        let Some(mut through) = self.through(started, stop).await else {
            return;
        };
        if through < started {
            match self.missed(through, started, stop).await {
                Some(handled) => through = handled,
                None => return,
            }
        }
        loop {
            let Some(next) = self.cadence.next_after(through) else {
                tracing::info!(
                    workflow = self.context.workflow(),
                    "The schedule has no more fires."
                );
                self.context.report(|status| status.next_fire_at = None);
                return;
            };
            // An installation fires at its own place after the fire time.
            let at = next + TimeDelta::from_std(self.context.offset()).unwrap_or_default();
            self.context.report(|status| status.next_fire_at = Some(at));
            if !sleep_until(at, stop).await {
                return;
            }
            let woke = now();
            let handled = if woke - at > SUSPENDED_AFTER {
                self.missed(through, woke, stop).await
            } else {
                self.fire(next, stop).await.then_some(next)
            };
            match handled {
                Some(handled) => through = handled,
                None => return,
            }
        }
    }

    /// The stored `through`; on the first start, `started`, stored. `None`
    /// when stopped first.
    async fn through(
        &self,
        started: DateTime<Utc>,
        stop: &CancellationToken,
    ) -> Option<DateTime<Utc>> {
        loop {
            match self
                .context
                .state::<ScheduleState>(ScheduleTrigger::KIND)
                .await
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
        let workflow = self.context.workflow();
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
        let event = self.cadence.fire_event(scheduled, fired);
        let dedupe_key = scheduled.to_rfc3339_opts(SecondsFormat::Secs, true);
        let stored = self
            .store(vec![(event, Some(dedupe_key))], scheduled, stop)
            .await;
        if stored {
            self.context
                .report(|status| status.last_fired_at = Some(fired));
        }
        stored
    }

    /// Stores `events` and `through` in one durable write, trying again
    /// until it succeeds; false when stopped first.
    async fn store(
        &self,
        events: Vec<NewEvent>,
        through: DateTime<Utc>,
        stop: &CancellationToken,
    ) -> bool {
        let state = ScheduleState { through };
        loop {
            let stored = match self
                .context
                .state_write(ScheduleTrigger::KIND, Some(&state))
            {
                Ok(write) => self.context.submit(events.clone(), vec![write]).await,
                Err(error) => Err(error),
            };
            match stored {
                Ok(_) => {
                    self.context.report(|status| status.last_error = None);
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
        let workflow = self.context.workflow();
        tracing::error!(workflow, %error, "The schedule failed; trying again.");
        self.context
            .report(|status| status.last_error = Some(error));
    }
}
