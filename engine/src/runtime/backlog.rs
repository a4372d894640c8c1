//! The backlog: runs accepted and not finished, and the bound past which
//! new events are refused instead of piling up in memory and on disk.
//!
//! An event is admitted before it is stored: its place is reserved, then
//! kept if the store took a new run, and given back otherwise (a duplicate,
//! a failed write). A run gives its place back when it ends. When the
//! backlog is empty an event is admitted whatever its batch's size, so a
//! trigger whose batch is larger than the bound still makes progress.

use std::sync::atomic::{AtomicUsize, Ordering};

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
}

impl Backlog {
    /// An empty backlog under `bound` (at least 1).
    pub(crate) fn new(bound: usize) -> Self {
        Self {
            runs: AtomicUsize::new(0),
            bound: bound.max(1),
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

    /// One run ended.
    pub(crate) fn finished(&self) {
        self.release(1);
    }

    fn release(&self, runs: usize) {
        // Never below zero, whatever a miscount upstream.
        let released = self
            .runs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |backlog| {
                Some(backlog.saturating_sub(runs))
            });
        debug_assert!(released.is_ok());
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
