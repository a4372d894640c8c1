//! What the overview says of recent runs: per workflow, the runs of the
//! last hour and of the last day by status and the p50 and p95 duration of
//! those that ended; over all workflows, the runs and failures of each hour
//! of the last day. Read from the newest run back, at most
//! [`READ_LIMIT`] runs, so that the page costs the same on a store of a
//! million runs (and says when it stopped short of a day).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::Engine;
use crate::model::{RunRecord, RunStatus};
use crate::store::{RunQuery, StoreError};

/// The most runs the overview reads.
pub(super) const READ_LIMIT: usize = 10_000;

/// How many runs one read of the store takes.
const PAGE: usize = 1_000;

/// Runs of the last day, as read.
#[derive(Debug, Default)]
pub(super) struct Recent {
    /// By workflow.
    pub(super) workflows: BTreeMap<String, WorkflowRecent>,
    /// Each hour of the last day, the latest first.
    pub(super) hours: [Hour; 24],
    /// Whether the read stopped at [`READ_LIMIT`] before a day back.
    pub(super) capped: bool,
}

/// One workflow's recent runs.
#[derive(Debug, Default)]
pub(super) struct WorkflowRecent {
    /// Of the last hour, by status.
    pub(super) hour: Counts,
    /// Of the last day, by status.
    pub(super) day: Counts,
    /// How long each run of the last day that ended took, in milliseconds.
    durations: Vec<i64>,
}

/// Runs by status.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts([usize; RunStatus::ALL.len()]);

/// One hour's runs.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Hour {
    /// Runs accepted in it.
    pub(super) runs: usize,
    /// Of them, those that failed.
    pub(super) failed: usize,
}

impl Counts {
    fn add(&mut self, status: RunStatus) {
        if let Some(slot) = RunStatus::ALL.iter().position(|s| *s == status) {
            self.0[slot] += 1;
        }
    }

    /// Each status with its count, those with none left out.
    pub(super) fn nonzero(&self) -> impl Iterator<Item = (RunStatus, usize)> + '_ {
        RunStatus::ALL
            .into_iter()
            .zip(self.0)
            .filter(|(_, count)| *count > 0)
    }
}

impl WorkflowRecent {
    /// The duration (ms) that `share` (0 to 1) of the runs that ended took
    /// at most.
    pub(super) fn percentile(&self, share: f64) -> Option<i64> {
        if self.durations.is_empty() {
            return None;
        }
        let mut sorted = self.durations.clone();
        sorted.sort_unstable();
        let rank = (share * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
    }
}

impl Recent {
    /// Counts `run`, accepted within the day before `now`.
    fn add(&mut self, run: &RunRecord, now: DateTime<Utc>) {
        let workflow = self.workflows.entry(run.workflow.clone()).or_default();
        let age = now - run.created_at;
        workflow.day.add(run.status);
        if age < Duration::hours(1) {
            workflow.hour.add(run.status);
        }
        if let Some(ended) = run.finished_at {
            workflow
                .durations
                .push((ended - run.created_at).num_milliseconds());
        }
        let hour = usize::try_from(age.num_hours()).unwrap_or(0).min(23);
        self.hours[hour].runs += 1;
        self.hours[hour].failed += usize::from(run.status == RunStatus::Failed);
    }
}

/// The runs accepted in the day before `now`, read newest first, at most
/// [`READ_LIMIT`].
pub(super) async fn read(engine: &Engine, now: DateTime<Utc>) -> Result<Recent, StoreError> {
    let day_ago = now - Duration::days(1);
    let mut recent = Recent::default();
    let mut read = 0;
    let mut query = RunQuery {
        limit: PAGE,
        ..RunQuery::default()
    };
    loop {
        let page = engine.runs(&query).await?;
        for run in &page.runs {
            if run.created_at < day_ago {
                return Ok(recent);
            }
            if read == READ_LIMIT {
                recent.capped = true;
                return Ok(recent);
            }
            read += 1;
            recent.add(run, now);
        }
        match page.next_cursor {
            Some(cursor) => query.before = Some(cursor),
            None => return Ok(recent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunId;

    fn ended(
        now: DateTime<Utc>,
        workflow: &str,
        status: RunStatus,
        ago: Duration,
        took_ms: i64,
    ) -> RunRecord {
        let mut run = RunRecord::queued(RunId::new(), workflow);
        run.status = status;
        run.created_at = now - ago;
        run.finished_at = Some(run.created_at + Duration::milliseconds(took_ms));
        run
    }

    #[test]
    fn runs_count_by_hour_and_day_and_durations_give_percentiles() {
        let now = Utc::now();
        let mut recent = Recent::default();
        for took in 1..=100 {
            recent.add(
                &ended(
                    now,
                    "leads",
                    RunStatus::Succeeded,
                    Duration::minutes(5),
                    took,
                ),
                now,
            );
        }
        recent.add(
            &ended(
                now,
                "leads",
                RunStatus::Failed,
                Duration::minutes(200),
                1_000,
            ),
            now,
        );
        let leads = &recent.workflows["leads"];
        assert_eq!(
            leads.hour.nonzero().collect::<Vec<_>>(),
            [(RunStatus::Succeeded, 100)]
        );
        assert_eq!(
            leads.day.nonzero().collect::<Vec<_>>(),
            [(RunStatus::Succeeded, 100), (RunStatus::Failed, 1)]
        );
        assert_eq!(leads.percentile(0.5), Some(51));
        assert_eq!(leads.percentile(0.95), Some(96));
        assert_eq!((recent.hours[0].runs, recent.hours[0].failed), (100, 0));
        assert_eq!((recent.hours[3].runs, recent.hours[3].failed), (1, 1));
        assert_eq!(WorkflowRecent::default().percentile(0.5), None);
    }
}
