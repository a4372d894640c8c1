//! Where runs, their events and step records, the queue, step state and
//! the Salesforce call journal are kept.
//!
//! [`Store`] is the one interface the triggers and the executor use; sled
//! ([`SledStore`]) is the embedded implementation, PostgreSQL
//! ([`PostgresStore`]) the shared one for several nodes.

mod compact;
mod connections;
mod copy;
mod document;
mod installations;
mod journal;
mod keys;
mod location;
mod open_runs;
mod postgres;
mod search;
mod sled_store;
mod state;
#[cfg(test)]
mod tests;
mod writer;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{InstallationId, RunId, RunRecord, RunStatus, StateWrite, StepRecord};
pub use connections::{ConnectionStore, Written};
pub use copy::{Copied, copy};
pub use installations::{InstallationStore, Removed};
pub use journal::{JournalStore, JournalWrite, MemoryJournalStore};
pub use location::StoreLocation;
pub use postgres::{DEFAULT_LEASE, DEFAULT_POOL_SIZE, Migration, MigrationStatus, PostgresStore};
pub use search::{EventSearch, MAX_SEARCH_BYTES, SearchTooLong};
pub use sled_store::{DEFAULT_CACHE_BYTES, SledStore};
pub use state::{
    MAX_KEY_BYTES, MAX_VALUE_BYTES, MemoryStateStore, StateRefusal, StateStore, StepState,
};

/// A store operation failed. Nothing it was asked to write is acknowledged.
/// `Clone`, because one group commit answers many writers with one error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage itself failed: I/O, a full disk, a closed store. The
    /// same request may succeed later.
    #[error("the store failed: {0}")]
    Unavailable(String),
    /// A stored record could not be read back; asking again does not help.
    #[error("a stored record is corrupt: {0}")]
    Corrupt(String),
    /// Another node took the run over (this one was stopped or cut off
    /// past its lease): nothing was written, and the run is that node's.
    #[error("the run {0} was taken over by another node")]
    TakenOver(RunId),
    /// Another node took over the trigger whose state this write moves (a
    /// poll's cursor): nothing was written.
    #[error("the trigger `{0}` was taken over by another node")]
    TriggerTakenOver(String),
}

impl StoreError {
    /// Whether the same request may succeed later (answered 503, a
    /// trigger's write tried again), rather than failing the same way.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// A run with its trigger event and every step's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunDetail {
    /// The run.
    #[serde(flatten)]
    pub run: RunRecord,
    /// Its trigger event.
    pub event: Value,
    /// Its steps, in the order they ran.
    pub steps: Vec<StepRecord>,
}

/// A run to store, with its trigger event.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The run, queued.
    pub record: RunRecord,
    /// Its trigger event.
    pub event: Value,
}

/// What storing an event did.
#[derive(Debug, Clone)]
pub enum Accepted {
    /// The run was stored.
    New(RunRecord),
    /// A run with the same dedupe key was already stored; nothing was written.
    Duplicate(RunRecord),
}

impl Accepted {
    /// The run the event belongs to.
    pub fn run(&self) -> &RunRecord {
        match self {
            Self::New(run) | Self::Duplicate(run) => run,
        }
    }
}

/// A change to a run, written atomically: its new record, the step record
/// of the attempt that caused it, and that attempt's state writes.
#[derive(Debug, Clone)]
pub struct Transition {
    /// The status and due time the store holds for the run now (the caller
    /// owns the run while it runs, so it knows).
    pub previous: (RunStatus, Option<DateTime<Utc>>),
    /// The run's new record.
    pub run: RunRecord,
    /// Step number `.0`'s new record.
    pub step: Option<(usize, StepRecord)>,
    /// The state writes to apply with it.
    pub state_writes: Vec<StateWrite>,
}

/// Which runs to list, newest first. `RunQuery::default()` lists the
/// newest [`RunQuery::DEFAULT_LIMIT`] runs of every workflow.
#[derive(Debug, Clone)]
pub struct RunQuery {
    /// Only this workflow's runs.
    pub workflow: Option<String>,
    /// Only this tenant's runs.
    pub tenant: Option<String>,
    /// Only this installation's runs.
    pub installation: Option<InstallationId>,
    /// Only runs with this status, as stored (see [`crate::Engine::runs`]
    /// for the status of runs in flight).
    pub status: Option<RunStatus>,
    /// At most this many.
    pub limit: usize,
    /// Only runs older than this one (the previous page's `next_cursor`).
    pub before: Option<RunId>,
    /// Only this run and runs newer than it (a time range's start: see
    /// [`RunId::first_at`]).
    pub after: Option<RunId>,
    /// Only runs of one of these workflows (a trigger kind's).
    pub workflow_in: Option<Vec<String>>,
    /// Only runs whose stored event holds this.
    pub event_contains: Option<EventSearch>,
    /// Look at most this many runs past the cursor: a page that stops there
    /// before it is full says so ([`RunPage::cut_short`]) and its
    /// `next_cursor` goes on from there. `None`: look until the page is
    /// full, however far back that is. (PostgreSQL looks further when
    /// its indexes serve every filter.)
    pub examine: Option<usize>,
}

impl RunQuery {
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: usize = 50;

    /// Whether no run can pass the query: its time range is empty, or it
    /// asks for runs of none of no workflows. A store answers it unread.
    pub fn excludes_all(&self) -> bool {
        self.after
            .zip(self.before)
            .is_some_and(|(after, before)| after >= before)
            || self.workflow_in.as_ref().is_some_and(Vec::is_empty)
    }

    /// Whether `run` passes every filter of the query but the cursor.
    pub fn keeps(&self, run: &RunRecord) -> bool {
        self.status.is_none_or(|status| status == run.status)
            && self.workflow.as_ref().is_none_or(|w| *w == run.workflow)
            && self
                .tenant
                .as_ref()
                .is_none_or(|t| Some(t) == run.tenant.as_ref())
            && self
                .installation
                .as_ref()
                .is_none_or(|i| Some(i) == run.installation.as_ref())
            && self.after.is_none_or(|after| run.id >= after)
            && self
                .workflow_in
                .as_ref()
                .is_none_or(|workflows| workflows.contains(&run.workflow))
    }
}

impl Default for RunQuery {
    fn default() -> Self {
        Self {
            workflow: None,
            tenant: None,
            installation: None,
            status: None,
            limit: Self::DEFAULT_LIMIT,
            before: None,
            after: None,
            workflow_in: None,
            event_contains: None,
            examine: None,
        }
    }
}

/// One page of runs.
#[derive(Debug, Clone)]
pub struct RunPage {
    /// The runs, newest first.
    pub runs: Vec<RunRecord>,
    /// Where the next page starts, if there is one.
    pub next_cursor: Option<RunId>,
    /// Whether the page stopped at [`RunQuery::examine`] runs before it was
    /// full (older runs may still match: `next_cursor` goes on).
    pub cut_short: bool,
}

impl RunPage {
    /// The first [`RunQuery::limit`] runs of `runs` (newest first) that
    /// `query`'s filters keep, where `event_matches` tells whether a run's
    /// stored event holds [`RunQuery::event_contains`] (asked only when
    /// the query has one and the run passes every other filter), and where
    /// the next page starts.
    pub fn gather(
        runs: impl IntoIterator<Item = Result<RunRecord, StoreError>>,
        query: &RunQuery,
        mut event_matches: impl FnMut(&RunRecord) -> Result<bool, StoreError>,
    ) -> Result<Self, StoreError> {
        let status = query.status;
        let mut page = Self {
            runs: Vec::new(),
            next_cursor: None,
            cut_short: false,
        };
        for (examined, run) in (1..).zip(runs) {
            let run = run?;
            // A failed run whose replay succeeded is off the failed list.
            let kept = query.keeps(&run)
                && !(status == Some(RunStatus::Failed) && run.replayed_by.is_some())
                && (query.event_contains.is_none() || event_matches(&run)?);
            let id = run.id;
            if kept {
                if page.runs.len() == query.limit {
                    page.next_cursor = page.runs.last().map(|last| last.id);
                    break;
                }
                page.runs.push(run);
            }
            if query.examine.is_some_and(|most| examined >= most) {
                page.next_cursor = Some(id);
                page.cut_short = page.runs.len() < query.limit;
                break;
            }
        }
        Ok(page)
    }
}

/// A run waiting in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRun {
    /// The run.
    pub id: RunId,
    /// Its workflow.
    pub workflow: String,
    /// The installation it runs for, if any.
    pub installation: Option<InstallationId>,
    /// When it is due.
    pub due_at: DateTime<Utc>,
}

/// The durable store behind the server.
#[async_trait]
pub trait Store:
    StateStore + JournalStore + ConnectionStore + InstallationStore + Send + Sync + 'static
{
    /// Stores a new run and its event, durably, unless its dedupe key names
    /// a run already stored.
    async fn accept(&self, run: &NewRun) -> Result<Accepted, StoreError>;
    /// Stores every run of `runs` whose dedupe key names no stored run, and
    /// the state writes `state` (a trigger's cursor), and answers for each
    /// run in order. The sled store writes it all in one atomic durable
    /// batch, so a cursor never moves past events that are not stored. This
    /// default stores the runs one by one and then the state, so after an
    /// error some runs may be stored without the state (their dedupe keys
    /// make a retry harmless).
    async fn accept_all(
        &self,
        runs: &[NewRun],
        state: &[StateWrite],
    ) -> Result<Vec<Accepted>, StoreError> {
        let mut accepted = Vec::with_capacity(runs.len());
        for run in runs {
            accepted.push(self.accept(run).await?);
        }
        self.apply(state).await?;
        self.flush().await?;
        Ok(accepted)
    }
    /// Applies `transition` atomically; durably when `durable`. When it
    /// ends a replay in success, the same write marks each failed run the
    /// replay goes back to (through earlier failed replays) as
    /// `replayed_by` it, which takes those off the failed list.
    async fn transition(&self, transition: Transition, durable: bool) -> Result<(), StoreError>;
    /// Makes every write so far durable.
    async fn flush(&self) -> Result<(), StoreError>;
    /// A run.
    async fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError>;
    /// A run with its trigger event and step records, in step order.
    async fn detail(&self, id: RunId) -> Result<Option<RunDetail>, StoreError>;
    /// Every run in the queue, soonest due first.
    async fn queued(&self) -> Result<Vec<QueuedRun>, StoreError>;
    /// The first `limit` runs of [`Store::queued`], read without the rest.
    async fn due_first(&self, limit: usize) -> Result<Vec<QueuedRun>, StoreError> {
        let mut queued = self.queued().await?;
        queued.truncate(limit);
        Ok(queued)
    }
    /// How many runs are unfinished (queued, waiting for a retry or for
    /// their workflow), counted without reading them.
    async fn unfinished(&self) -> Result<usize, StoreError> {
        self.queued().await.map(|queued| queued.len())
    }
    /// One page of runs, newest first.
    async fn list(&self, query: &RunQuery) -> Result<RunPage, StoreError>;
    /// One page of unfinished runs, newest first, that pass `query`'s
    /// filters but its status (which of them are running only the engine
    /// knows). This default reads the queue and then each run.
    async fn unfinished_runs(&self, query: &RunQuery) -> Result<RunPage, StoreError> {
        let mut ids: Vec<RunId> = self
            .queued()
            .await?
            .into_iter()
            .filter(|queued| {
                query
                    .workflow
                    .as_ref()
                    .is_none_or(|w| *w == queued.workflow)
                    && query
                        .installation
                        .as_ref()
                        .is_none_or(|i| Some(i) == queued.installation.as_ref())
                    && query.before.is_none_or(|before| queued.id < before)
            })
            .map(|queued| queued.id)
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let any_status = RunQuery {
            status: None,
            ..query.clone()
        };
        let mut runs = Vec::new();
        // Read until one past the page's end is kept: `gather` needs no more.
        for id in ids {
            let Some(run) = self.run(id).await? else {
                continue;
            };
            if any_status.keeps(&run) {
                runs.push(Ok(run));
                if runs.len() > query.limit {
                    break;
                }
            }
        }
        RunPage::gather(runs, &any_status, |_| Ok(true))
    }
    /// Removes finished runs created before `before`, and runs with a
    /// dedupe key only if also created before `deduplicated_before` (their
    /// key must outlive redeliveries); returns how many.
    async fn prune(
        &self,
        before: DateTime<Utc>,
        deduplicated_before: DateTime<Utc>,
    ) -> Result<usize, StoreError>;
    /// The durable flushes made since the store opened; each may cover
    /// many writes.
    fn flushes(&self) -> u64;
    /// How this store's runs move between the nodes sharing it: `None`
    /// when this process is the only one (the embedded store).
    fn sharing(&self) -> Option<Sharing> {
        None
    }
    /// Takes over up to `limit` unfinished runs that no live node holds
    /// (their node stopped or died past its lease, or released them), for
    /// this node to run: a store shared by several nodes answers them,
    /// soonest due first.
    async fn take_over(&self, limit: usize) -> Result<Vec<QueuedRun>, StoreError> {
        let _ = limit;
        Ok(Vec::new())
    }
    /// Whether this node may run the trigger whose state is kept under
    /// `scope` (a poll) now: a store shared by several nodes gives one node
    /// at a time a lease on it, renewed by each call and each write of the
    /// trigger's state, and refuses those writes
    /// ([`StoreError::TriggerTakenOver`]) once another node took it over.
    async fn hold_trigger(&self, scope: &str) -> Result<bool, StoreError> {
        let _ = scope;
        Ok(true)
    }
    /// Gives up this node's unfinished runs, for the other nodes to take
    /// over at once (a node stopping cleanly).
    async fn release(&self) -> Result<usize, StoreError> {
        Ok(0)
    }
}

/// How a store shared by several nodes hands runs over.
#[derive(Debug, Clone)]
pub struct Sharing {
    /// How often a node looks for runs to take over.
    pub every: std::time::Duration,
    /// Told when another node released runs (a wake-up, besides looking
    /// every `every`).
    pub released: std::sync::Arc<tokio::sync::Notify>,
}
