//! The backlog: runs accepted and not finished, and the bound past which
//! new events are refused instead of piling up in memory and on disk.
//!
//! An event is admitted before it is stored: its place is reserved, then
//! kept if the store took a new run, and given back otherwise (a duplicate,
//! a failed write). A run gives its place back when it ends. When the
//! backlog is empty an event is admitted whatever its batch's size, so a
//! trigger whose batch is larger than the bound still makes progress.
//!
//! An event that finds the backlog full waits a moment for a place
//! ([`ADMISSION_WAIT`]) before it is refused: under a flood from senders
//! that retry at once, the senders are paced by the runs' pace instead of
//! spinning on refusals that cost the server as much as the runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// How long an event waits for a place in a full backlog before it is
/// refused.
pub(crate) const ADMISSION_WAIT: Duration = Duration::from_millis(250);

/// Refused: the backlog is at its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{backlog} runs are accepted and not finished, at the bound of {bound} (`max_backlog`); nothing was stored, send it again in a moment"
)]
pub struct Overloaded {
    /// The runs accepted and not finished.
    pub backlog: usize,
    /// The bound.
    pub bound: usize,
}

/// Runs accepted and not finished, under a bound.
#[derive(Debug)]
pub(crate) struct Backlog {
    runs: AtomicUsize,
    bound: usize,
    /// Woken when a run ends, for events waiting for a place.
    freed: Notify,
}

impl Backlog {
    /// An empty backlog under `bound` (at least 1).
    pub(crate) fn new(bound: usize) -> Self {
        Self {
            runs: AtomicUsize::new(0),
            bound: bound.max(1),
            freed: Notify::new(),
        }
    }

    /// The runs accepted and not finished.
    pub(crate) fn len(&self) -> usize {
        self.runs.load(Ordering::Relaxed)
    }

    /// The bound.
    pub(crate) fn bound(&self) -> usize {
        self.bound
    }

    /// Counts runs found unfinished in the store at start-up.
    pub(crate) fn add_stored(&self, runs: usize) {
        self.runs.fetch_add(runs, Ordering::Relaxed);
    }

    /// Reserves places for `runs` new runs, unless the bound would be
    /// passed (an empty backlog admits any batch).
    pub(crate) fn admit(&self, runs: usize) -> Result<Admission<'_>, Overloaded> {
        self.runs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |backlog| {
                let fits = backlog == 0 || backlog.saturating_add(runs) <= self.bound;
                fits.then(|| backlog.saturating_add(runs))
            })
            .map_err(|backlog| Overloaded {
                backlog,
                bound: self.bound,
            })?;
        Ok(Admission {
            backlog: self,
            reserved: runs,
        })
    }

    /// [`Backlog::admit`], waiting up to `wait` for places to free up.
    pub(crate) async fn admit_within(
        &self,
        runs: usize,
        wait: Duration,
    ) -> Result<Admission<'_>, Overloaded> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before trying, so that a run ending in between
            // is not missed.
            let freed = self.freed.notified();
            match self.admit(runs) {
                Ok(admission) => return Ok(admission),
                Err(overloaded) => {
                    if tokio::time::timeout_at(deadline, freed).await.is_err() {
                        return Err(overloaded);
                    }
                }
            }
        }
    }

    /// One run ended.
    pub(crate) fn finished(&self) {
        self.release(1);
        self.freed.notify_waiters();
    }

    fn release(&self, runs: usize) {
        // Never below zero, whatever a miscount upstream (the closure
        // always answers, so the update cannot fail).
        self.runs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |backlog| {
                Some(backlog.saturating_sub(runs))
            })
            .unwrap_or_else(|backlog| backlog);
    }
}

/// Places reserved in the backlog; those not kept are given back when it
/// is dropped.
#[must_use = "an admission gives its places back when dropped"]
pub(crate) struct Admission<'a> {
    backlog: &'a Backlog,
    reserved: usize,
}

impl Admission<'_> {
    /// Keeps `runs` of the reserved places: that many new runs were stored.
    pub(crate) fn keep(mut self, runs: usize) {
        self.reserved = self.reserved.saturating_sub(runs);
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if self.reserved > 0 {
            self.backlog.release(self.reserved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_not_kept_are_given_back_and_the_bound_refuses() {
        let backlog = Backlog::new(3);
        backlog.admit(2).unwrap().keep(2);
        assert_eq!(backlog.len(), 2);
        drop(backlog.admit(1).unwrap());
        assert_eq!(backlog.len(), 2, "a duplicate keeps no place");
        assert_eq!(
            backlog.admit(2).err(),
            Some(Overloaded {
                backlog: 2,
                bound: 3
            })
        );
        backlog.admit(1).unwrap().keep(1);
        assert!(backlog.admit(1).is_err());
        backlog.finished();
        backlog.admit(1).unwrap().keep(1);
        assert_eq!(backlog.len(), 3);
    }

    #[tokio::test]
    async fn a_full_backlog_admits_an_event_that_waits_for_a_run_to_end() {
        let backlog = std::sync::Arc::new(Backlog::new(1));
        backlog.admit(1).unwrap().keep(1);
        let ending = tokio::spawn({
            let backlog = backlog.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                backlog.finished();
            }
        });
        let waited = backlog.admit_within(1, Duration::from_secs(5)).await;
        waited.unwrap().keep(1);
        ending.await.unwrap();
        let refused = backlog.admit_within(1, Duration::from_millis(10)).await;
        assert_eq!(refused.err().map(|o| o.backlog), Some(1));
    }

    #[test]
    fn an_empty_backlog_admits_a_batch_larger_than_the_bound() {
        let backlog = Backlog::new(2);
        backlog.admit(5).unwrap().keep(5);
        assert_eq!(backlog.len(), 5);
        assert!(backlog.admit(1).is_err());
        for _ in 0..10 {
            backlog.finished();
        }
        assert_eq!(backlog.len(), 0, "never below zero");
    }
}
