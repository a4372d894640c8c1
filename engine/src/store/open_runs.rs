//! Which unfinished runs have no queue entry, and the mark below which
//! every unfinished run has one.
//!
//! A run accepted and finished within moments (most of them) would cost a
//! queue insert and a queue removal. Instead a new run is *open*: stored
//! with no queue entry, found after a crash by scanning the runs from the
//! stored mark on. The mark moves up (at most once a second, with a write
//! that goes through the same ordered writer as the runs' own) to the
//! oldest run still open. A run that leaves the open set (it ends, or
//! waits for a retry or a reload and so gets a queue entry) does so only
//! after the write that closed it was applied, so a stored mark never
//! passes a run whose end was not stored before it. A run whose id is
//! already below the mark when it is accepted (its id was made just before
//! the mark moved) is given a queue entry at once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::RunId;

/// How often the mark may move.
const MARK_EVERY: Duration = Duration::from_secs(1);

/// The open runs and the mark.
pub(super) struct OpenRuns {
    open: BTreeSet<RunId>,
    mark: Option<RunId>,
    marked_at: Instant,
}

impl OpenRuns {
    /// The open runs found at start-up, below `mark` none.
    pub(super) fn new(mark: Option<RunId>, open: impl IntoIterator<Item = RunId>) -> Self {
        Self {
            open: open.into_iter().collect(),
            mark,
            marked_at: Instant::now(),
        }
    }

    /// Opens a run about to be stored; `false` when it is below the mark
    /// and must be stored with a queue entry instead.
    pub(super) fn open(&mut self, id: RunId) -> bool {
        if self.mark.is_some_and(|mark| id < mark) {
            return false;
        }
        self.open.insert(id);
        true
    }

    /// Whether `id` is open.
    pub(super) fn is_open(&self, id: RunId) -> bool {
        self.open.contains(&id)
    }

    /// Forgets `id`: its closing write was applied, or it was never stored.
    pub(super) fn close(&mut self, id: RunId) {
        self.open.remove(&id);
    }

    /// The new mark to store with the write that closes `closing`, if a
    /// second has passed since the last one.
    pub(super) fn advance(&mut self, closing: RunId) -> Option<RunId> {
        if self.marked_at.elapsed() < MARK_EVERY {
            return None;
        }
        let oldest_open = self.open.iter().find(|id| **id != closing).copied();
        let mark = oldest_open.unwrap_or_else(RunId::new);
        if self.mark.is_some_and(|current| mark <= current) {
            return None;
        }
        self.mark = Some(mark);
        self.marked_at = Instant::now();
        Some(mark)
    }

    /// The `limit` oldest open runs, oldest first.
    pub(super) fn first(&self, limit: usize) -> Vec<RunId> {
        self.open.iter().take(limit).copied().collect()
    }

    /// How many runs are open.
    pub(super) fn len(&self) -> usize {
        self.open.len()
    }

    #[cfg(test)]
    pub(super) fn mark_now(&mut self) {
        self.marked_at = Instant::now() - MARK_EVERY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_stops_at_the_oldest_open_run_and_late_runs_get_queue_entries() {
        let early = RunId::new();
        let middle = RunId::new();
        let mut runs = OpenRuns::new(None, []);
        assert!(runs.open(middle));
        assert!(runs.open(early));
        runs.mark_now();
        assert_eq!(runs.advance(middle), Some(early));
        assert_eq!(runs.advance(middle), None, "at most once a second");

        runs.close(early);
        runs.mark_now();
        assert_eq!(runs.advance(early), Some(middle));
        runs.close(middle);
        runs.mark_now();
        let past_all = runs.advance(middle).unwrap();
        assert!(past_all > middle);
        assert!(!runs.open(early), "an id below the mark is not opened");
        assert!(!runs.is_open(early));
        assert!(runs.open(RunId::new()));
    }
}
