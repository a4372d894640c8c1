//! Which run goes next: runs due now in per-workflow queues served round
//! robin, each workflow under its concurrency limit and all under the
//! worker count; runs due later (retries) wait in a timer heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::model::RunId;

/// A run to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// The run.
    pub(crate) run: RunId,
    /// Its workflow.
    pub(crate) workflow: String,
}

#[derive(Default)]
struct Queues {
    ready: HashMap<String, VecDeque<RunId>>,
    /// Workflows with ready runs, in the order they are served.
    turns: VecDeque<String>,
    delayed: BinaryHeap<Reverse<(DateTime<Utc>, RunId, String)>>,
    running: HashMap<String, usize>,
    running_total: usize,
    running_runs: HashSet<RunId>,
    /// Every run queued, delayed or running, so none is taken twice.
    known: HashSet<RunId>,
}

/// The in-memory queue in front of the store's.
#[derive(Default)]
pub(crate) struct DispatchQueue {
    queues: Mutex<Queues>,
    /// Woken when a run is added or one ends.
    pub(crate) changed: Notify,
}

impl DispatchQueue {
    /// Adds a run due at `due`; a run already known is left as it is.
    pub(crate) fn enqueue(&self, run: RunId, workflow: &str, due: DateTime<Utc>) {
        let mut queues = self.lock();
        if !queues.known.insert(run) {
            return;
        }
        if due <= Utc::now() {
            queues.push_ready(run, workflow.to_owned());
        } else {
            queues
                .delayed
                .push(Reverse((due, run, workflow.to_owned())));
        }
        drop(queues);
        self.changed.notify_one();
    }

    /// The next run to start, if one is due and its workflow is under
    /// `limit(workflow)` and fewer than `workers` runs are running.
    pub(crate) fn take(&self, workers: usize, limit: impl Fn(&str) -> usize) -> Option<Ticket> {
        let mut queues = self.lock();
        queues.promote_due(Utc::now());
        if queues.running_total >= workers {
            return None;
        }
        for _ in 0..queues.turns.len() {
            let workflow = queues.turns.pop_front()?;
            let running = queues.running.get(&workflow).copied().unwrap_or(0);
            if running >= limit(&workflow) {
                queues.turns.push_back(workflow);
                continue;
            }
            let ready = queues.ready.get_mut(&workflow)?;
            let run = ready.pop_front()?;
            if ready.is_empty() {
                queues.ready.remove(&workflow);
            } else {
                queues.turns.push_back(workflow.clone());
            }
            *queues.running.entry(workflow.clone()).or_default() += 1;
            queues.running_total += 1;
            queues.running_runs.insert(run);
            return Some(Ticket { run, workflow });
        }
        None
    }

    /// A run started by [`DispatchQueue::take`] stopped running.
    pub(crate) fn done(&self, ticket: &Ticket) {
        let mut queues = self.lock();
        if let Some(running) = queues.running.get_mut(&ticket.workflow) {
            *running -= 1;
            if *running == 0 {
                queues.running.remove(&ticket.workflow);
            }
        }
        queues.running_total -= 1;
        queues.running_runs.remove(&ticket.run);
        queues.known.remove(&ticket.run);
        drop(queues);
        self.changed.notify_one();
    }

    /// Whether `run` is running now.
    pub(crate) fn is_running(&self, run: RunId) -> bool {
        self.lock().running_runs.contains(&run)
    }

    /// When the next delayed run is due.
    pub(crate) fn next_due(&self) -> Option<DateTime<Utc>> {
        self.lock().delayed.peek().map(|Reverse((due, _, _))| *due)
    }

    /// Runs waiting (due now or later), and runs running.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let queues = self.lock();
        (
            queues.known.len() - queues.running_total,
            queues.running_total,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Queues {
    fn push_ready(&mut self, run: RunId, workflow: String) {
        let ready = self.ready.entry(workflow.clone()).or_default();
        if ready.is_empty() {
            self.turns.push_back(workflow);
        }
        ready.push_back(run);
    }

    fn promote_due(&mut self, now: DateTime<Utc>) {
        while let Some(Reverse((due, _, _))) = self.delayed.peek() {
            if *due > now {
                break;
            }
            let Some(Reverse((_, run, workflow))) = self.delayed.pop() else {
                break;
            };
            self.push_ready(run, workflow);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn take_all(queue: &DispatchQueue, workers: usize, limit: usize) -> Vec<Ticket> {
        std::iter::from_fn(|| queue.take(workers, |_| limit)).collect()
    }

    #[test]
    fn workflows_take_turns_and_each_keeps_its_order() {
        let queue = DispatchQueue::default();
        let a: Vec<RunId> = (0..3).map(|_| RunId::new()).collect();
        let b = RunId::new();
        for run in &a {
            queue.enqueue(*run, "a", Utc::now());
        }
        queue.enqueue(b, "b", Utc::now());
        let order: Vec<RunId> = take_all(&queue, 10, 10).iter().map(|t| t.run).collect();
        assert_eq!(order, vec![a[0], b, a[1], a[2]]);
    }

    #[test]
    fn a_workflow_at_its_limit_waits_while_others_run() {
        let queue = DispatchQueue::default();
        for _ in 0..3 {
            queue.enqueue(RunId::new(), "busy", Utc::now());
        }
        let other = RunId::new();
        queue.enqueue(other, "other", Utc::now());
        let taken = take_all(&queue, 10, 1);
        assert_eq!(taken.len(), 2);
        assert_eq!(taken[1].run, other);
        assert!(queue.is_running(taken[0].run));
        queue.done(&taken[0]);
        assert!(!queue.is_running(taken[0].run));
        assert_eq!(take_all(&queue, 10, 1).len(), 1);
        assert_eq!(queue.counts(), (1, 2));
    }

    #[test]
    fn the_worker_count_bounds_all_running_runs() {
        let queue = DispatchQueue::default();
        for workflow in ["a", "b", "c"] {
            queue.enqueue(RunId::new(), workflow, Utc::now());
        }
        assert_eq!(take_all(&queue, 2, 10).len(), 2);
    }

    #[test]
    fn a_delayed_run_waits_until_it_is_due_and_a_known_run_is_not_added_twice() {
        let queue = DispatchQueue::default();
        let run = RunId::new();
        let due = Utc::now() + TimeDelta::milliseconds(50);
        queue.enqueue(run, "a", due);
        queue.enqueue(run, "a", Utc::now());
        assert_eq!(queue.take(10, |_| 10), None);
        assert_eq!(queue.next_due(), Some(due));
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(queue.take(10, |_| 10).map(|t| t.run), Some(run));
        assert_eq!(queue.take(10, |_| 10), None);
    }
}
