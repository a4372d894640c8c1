//! Which run goes next: runs due now in per-lane queues served round robin
//! (a lane is a workflow's own runs, or one installation's), each workflow
//! under its concurrency limit, each installation under its own, and all
//! under the worker count; runs due later (retries) wait in a timer heap.
//! One installation's flood therefore takes one turn in every round, not
//! the workflow's whole share.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::model::{InstallationId, RunId, RunRecord};

/// Whose runs queue together: a workflow's own, or one installation's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Lane {
    /// The workflow.
    pub(crate) workflow: String,
    /// The installation, for an installation's runs.
    pub(crate) installation: Option<InstallationId>,
}

impl Lane {
    /// The lane of `run`.
    pub(crate) fn of(run: &RunRecord) -> Self {
        Self {
            workflow: run.workflow.clone(),
            installation: run.installation.clone(),
        }
    }
}

/// The most runs running at once: of one workflow, and of one of its
/// installations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Of the workflow, over all its lanes.
    pub(crate) workflow: usize,
    /// Of one installation.
    pub(crate) installation: usize,
}

/// A run to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// The run.
    pub(crate) run: RunId,
    /// Its lane.
    pub(crate) lane: Lane,
}

/// The runs of one workflow: its lanes with runs due, and what runs.
#[derive(Default)]
struct WorkflowQueue {
    /// Runs due, by installation (`None`: the workflow's own).
    ready: HashMap<Option<InstallationId>, VecDeque<RunId>>,
    /// Its lanes with runs due, in the order they are served.
    turns: VecDeque<Option<InstallationId>>,
    /// Its runs running.
    running: usize,
    /// Its installations' runs running, by installation.
    running_lanes: HashMap<InstallationId, usize>,
}

impl WorkflowQueue {
    /// The next run of a lane under the installation limit, if one is.
    fn take(&mut self, installation_limit: usize) -> Option<(Option<InstallationId>, RunId)> {
        for _ in 0..self.turns.len() {
            let lane = self.turns.pop_front()?;
            let full = lane.as_ref().is_some_and(|installation| {
                self.running_lanes.get(installation).copied().unwrap_or(0) >= installation_limit
            });
            if full {
                self.turns.push_back(lane);
                continue;
            }
            let ready = self.ready.get_mut(&lane)?;
            let run = ready.pop_front()?;
            if ready.is_empty() {
                self.ready.remove(&lane);
            } else {
                self.turns.push_back(lane.clone());
            }
            self.running += 1;
            if let Some(installation) = &lane {
                *self.running_lanes.entry(installation.clone()).or_default() += 1;
            }
            return Some((lane, run));
        }
        None
    }
}

#[derive(Default)]
struct Queues {
    workflows: HashMap<String, WorkflowQueue>,
    /// Workflows with runs due, in the order they are served.
    turns: VecDeque<String>,
    delayed: BinaryHeap<Reverse<(DateTime<Utc>, RunId, Lane)>>,
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
    pub(crate) fn enqueue(&self, run: RunId, lane: Lane, due: DateTime<Utc>) {
        let mut queues = self.lock();
        if !queues.known.insert(run) {
            return;
        }
        if due <= Utc::now() {
            queues.push_ready(run, lane);
        } else {
            queues.delayed.push(Reverse((due, run, lane)));
        }
        drop(queues);
        self.changed.notify_one();
    }

    /// The next run to start, if one is due, its workflow and installation
    /// are under their `limits(workflow)` and fewer than `workers` runs
    /// are running. Workflows take turns, and within each its lanes.
    pub(crate) fn take(&self, workers: usize, limits: impl Fn(&str) -> Limits) -> Option<Ticket> {
        let mut guard = self.lock();
        let queues = &mut *guard;
        queues.promote_due(Utc::now());
        if queues.running_total >= workers {
            return None;
        }
        for _ in 0..queues.turns.len() {
            let workflow = queues.turns.pop_front()?;
            let limits = limits(&workflow);
            let queue = queues.workflows.get_mut(&workflow)?;
            let taken = if queue.running < limits.workflow {
                queue.take(limits.installation)
            } else {
                None
            };
            let Some((installation, run)) = taken else {
                queues.turns.push_back(workflow);
                continue;
            };
            if !queue.turns.is_empty() {
                queues.turns.push_back(workflow.clone());
            }
            queues.running_total += 1;
            queues.running_runs.insert(run);
            return Some(Ticket {
                run,
                lane: Lane {
                    workflow,
                    installation,
                },
            });
        }
        None
    }

    /// A run started by [`DispatchQueue::take`] stopped running.
    pub(crate) fn done(&self, ticket: &Ticket) {
        let mut queues = self.lock();
        let lane = &ticket.lane;
        if let Some(queue) = queues.workflows.get_mut(&lane.workflow) {
            queue.running -= 1;
            if let Some(installation) = &lane.installation
                && let Some(running) = queue.running_lanes.get_mut(installation)
            {
                *running -= 1;
                if *running == 0 {
                    queue.running_lanes.remove(installation);
                }
            }
            if queue.running == 0 && queue.turns.is_empty() {
                queues.workflows.remove(&lane.workflow);
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
    fn push_ready(&mut self, run: RunId, lane: Lane) {
        let queue = self.workflows.entry(lane.workflow.clone()).or_default();
        if queue.turns.is_empty() {
            self.turns.push_back(lane.workflow);
        }
        let ready = queue.ready.entry(lane.installation.clone()).or_default();
        if ready.is_empty() {
            queue.turns.push_back(lane.installation);
        }
        ready.push_back(run);
    }

    fn promote_due(&mut self, now: DateTime<Utc>) {
        while let Some(Reverse((due, _, _))) = self.delayed.peek() {
            if *due > now {
                break;
            }
            let Some(Reverse((_, run, lane))) = self.delayed.pop() else {
                break;
            };
            self.push_ready(run, lane);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn take_all(queue: &DispatchQueue, workers: usize, limit: usize) -> Vec<Ticket> {
        let limits = Limits {
            workflow: limit,
            installation: limit,
        };
        std::iter::from_fn(|| queue.take(workers, |_| limits)).collect()
    }

    fn lane(workflow: &str) -> Lane {
        Lane {
            workflow: workflow.to_owned(),
            installation: None,
        }
    }

    #[test]
    fn workflows_take_turns_and_each_keeps_its_order() {
        let queue = DispatchQueue::default();
        let a: Vec<RunId> = (0..3).map(|_| RunId::new()).collect();
        let b = RunId::new();
        for run in &a {
            queue.enqueue(*run, lane("a"), Utc::now());
        }
        queue.enqueue(b, lane("b"), Utc::now());
        let order: Vec<RunId> = take_all(&queue, 10, 10).iter().map(|t| t.run).collect();
        assert_eq!(order, vec![a[0], b, a[1], a[2]]);
    }

    #[test]
    fn a_workflow_at_its_limit_waits_while_others_run() {
        let queue = DispatchQueue::default();
        for _ in 0..3 {
            queue.enqueue(RunId::new(), lane("busy"), Utc::now());
        }
        let other = RunId::new();
        queue.enqueue(other, lane("other"), Utc::now());
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
            queue.enqueue(RunId::new(), lane(workflow), Utc::now());
        }
        assert_eq!(take_all(&queue, 2, 10).len(), 2);
    }

    #[test]
    fn a_delayed_run_waits_until_it_is_due_and_a_known_run_is_not_added_twice() {
        let queue = DispatchQueue::default();
        let run = RunId::new();
        let due = Utc::now() + TimeDelta::milliseconds(50);
        queue.enqueue(run, lane("a"), due);
        queue.enqueue(run, lane("a"), Utc::now());
        assert_eq!(
            queue.take(10, |_| Limits {
                workflow: 10,
                installation: 10
            }),
            None
        );
        assert_eq!(queue.next_due(), Some(due));
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(
            queue
                .take(10, |_| Limits {
                    workflow: 10,
                    installation: 10
                })
                .map(|t| t.run),
            Some(run)
        );
        assert_eq!(
            queue.take(10, |_| Limits {
                workflow: 10,
                installation: 10
            }),
            None
        );
    }
}

#[cfg(test)]
mod lanes {
    use super::*;

    fn installation_lane(installation: &InstallationId) -> Lane {
        Lane {
            workflow: "w".to_owned(),
            installation: Some(installation.clone()),
        }
    }

    #[test]
    fn installations_of_one_workflow_take_turns_and_each_has_its_own_limit() {
        let queue = DispatchQueue::default();
        let (flood, small) = (InstallationId::random(), InstallationId::random());
        let flooded: Vec<RunId> = (0..100).map(|_| RunId::new()).collect();
        for run in &flooded {
            queue.enqueue(*run, installation_lane(&flood), Utc::now());
        }
        let few: Vec<RunId> = (0..3).map(|_| RunId::new()).collect();
        for run in &few {
            queue.enqueue(*run, installation_lane(&small), Utc::now());
        }
        let limits = Limits {
            workflow: 100,
            installation: 2,
        };
        let taken: Vec<Ticket> = std::iter::from_fn(|| queue.take(100, |_| limits)).collect();
        // Two of each: the flood's limit holds it back while the other runs.
        assert_eq!(taken.len(), 4);
        let of_small = taken
            .iter()
            .filter(|ticket| ticket.lane.installation.as_ref() == Some(&small))
            .count();
        assert_eq!(of_small, 2);
        for ticket in &taken {
            queue.done(ticket);
        }
        let next: Vec<Ticket> = std::iter::from_fn(|| queue.take(100, |_| limits)).collect();
        assert!(
            next.iter().any(|t| t.run == few[2]),
            "the last of the few runs next"
        );
    }
}
