//! A poll's task: reads the records changed since its cursor, reports
//! them with the cursor moved in one durable write, then waits for `every`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::TimeDelta;
use gust_outbound::FieldType;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::config::{Backfill, SalesforcePollTrigger};
use super::cursor::{BulkProgress, Keys, PollState, Position};
use super::query::{PAGE_SIZE, Queries};
use crate::model::now;
use crate::runtime::{NewEvent, SubmitError};
use crate::salesforce::{SalesforceError, SalesforceService, without_attributes};
use crate::store::StoreError;
use crate::trigger::background::{BackgroundTrigger, sleep_until};
use crate::trigger::context::TriggerContext;
use crate::trigger::schedule::Cadence;

/// A backfill of more records than this reads them with a Bulk API 2.0
/// query job instead of REST query pages.
pub const BULK_BACKFILL_THRESHOLD: u64 = 10_000;
/// The most bytes of JSON one query page may take.
const MAX_PAGE_BYTES: usize = 64 * 1024 * 1024;

/// Why a poll stopped before it was done. What it stored stays stored; the
/// next poll goes on from there.
#[derive(Debug, thiserror::Error)]
enum PollError {
    /// Salesforce refused or failed a call.
    #[error("Salesforce: {0}")]
    Salesforce(#[from] SalesforceError),
    /// The events could not be stored.
    #[error("{0}")]
    Store(#[from] SubmitError),
    /// Salesforce answered something a query does not answer.
    #[error("Salesforce answered a query with something else: {0}")]
    Answer(String),
    /// The trigger was stopped.
    #[error("stopped")]
    Stopped,
    /// Another server runs the poll (a store several servers share lets
    /// one at a time).
    #[error("standby: another server runs this poll; this one takes over if it stops")]
    Standby,
}

impl From<StoreError> for PollError {
    fn from(error: StoreError) -> Self {
        Self::Store(SubmitError::Store(error))
    }
}

impl BackgroundTrigger for SalesforcePollTrigger {
    const KIND: &'static str = super::KIND;

    /// Polls once at start (an installation at its place in the jitter
    /// window), then at every fire of `every`, until `stop`.
    async fn run(self, context: TriggerContext, stop: CancellationToken) {
        let every = match Cadence::new(&self.every, None) {
            Ok(every) => every,
            Err(error) => {
                let workflow = context.workflow();
                tracing::error!(workflow, %error, "The poll cannot run.");
                return;
            }
        };
        let offset = TimeDelta::from_std(context.offset()).unwrap_or_default();
        if !offset.is_zero() && !sleep_until(now() + offset, &stop).await {
            return;
        }
        let poller = Poller {
            stop: stop.clone(),
            salesforce: context.salesforce(),
            queries: Queries::new(&self),
            context,
            trigger: self,
        };
        loop {
            let started = now();
            let workflow = poller.context.workflow();
            poller.context.report(|status| status.next_fire_at = None);
            let polled = match poller.context.hold().await {
                Ok(true) => poller.poll().await,
                Ok(false) => Err(PollError::Standby),
                Err(error) => Err(error.into()),
            };
            match polled {
                Ok(reported) => {
                    if reported > 0 {
                        tracing::info!(workflow, reported, "Polled Salesforce.");
                    }
                    poller.context.report(|status| {
                        status.last_fired_at = Some(started);
                        status.last_error = None;
                    });
                }
                Err(PollError::Stopped) => return,
                Err(PollError::Standby) => {
                    poller.context.report(|status| {
                        status.last_error = Some(PollError::Standby.to_string());
                    });
                }
                Err(error) => {
                    tracing::error!(workflow, %error, "The poll failed; the next one goes on from what was stored.");
                    poller
                        .context
                        .report(|status| status.last_error = Some(error.to_string()));
                }
            }
            let Some(next) = every.next_after(now()) else {
                return;
            };
            // An installation polls at its own place after each time.
            let next = next + offset;
            poller
                .context
                .report(|status| status.next_fire_at = Some(next));
            if !sleep_until(next, &stop).await {
                return;
            }
        }
    }
}

struct Poller {
    /// Cancels the poll's Salesforce calls; store writes are never cut off.
    stop: CancellationToken,
    context: TriggerContext,
    salesforce: Arc<dyn SalesforceService>,
    trigger: SalesforcePollTrigger,
    queries: Queries,
}

impl Poller {
    /// What the stored state must be of.
    fn identity(&self) -> String {
        format!(
            "{}/{}/{}",
            self.trigger.sobject,
            self.trigger.on.as_str(),
            self.trigger.condition.as_deref().unwrap_or_default()
        )
    }

    /// One poll: the rest of a backfill, then every record since the last
    /// poll. Returns how many records it reported.
    async fn poll(&self) -> Result<usize, PollError> {
        let mut state = match self
            .context
            .state::<PollState>(SalesforcePollTrigger::KIND)
            .await?
        {
            Some(mut state) if state.of == self.identity() => {
                for chunk in state.chunks.clone() {
                    let keys = self
                        .context
                        .state::<Keys>(&chunk_name(chunk.number))
                        .await?;
                    state.load(keys.unwrap_or_default());
                }
                state
            }
            other => self.activate(other).await?,
        };
        let mut reported = 0;
        if state.bulk.is_some() {
            reported += self.bulk_backfill(&mut state).await?;
        }
        reported += self.read_new(&mut state).await?;
        Ok(reported)
    }

    /// The first state of the poll, stored (replacing `previous`, the state
    /// of a poll defined otherwise): after the last record, or before the
    /// first record to backfill (with a Bulk API 2.0 job started when there
    /// are many).
    async fn activate(&self, previous: Option<PollState>) -> Result<PollState, PollError> {
        let activated = now();
        let settled = activated - overlap(&self.trigger);
        let mut state = PollState::new(self.identity(), None, settled);
        if let Some(previous) = previous {
            tracing::info!(
                workflow = self.context.workflow(),
                "The poll's object, change or condition changed: it starts afresh."
            );
            state.replace(previous);
        }
        let from = match self.trigger.backfill {
            Backfill::None => {
                // After the newest record; with none, after the time the
                // poll started (less the overlap), so that an older record
                // that comes to match `where` later is not taken for new.
                let latest = self.query(&self.queries.latest()).await?;
                let after = latest
                    .first()
                    .and_then(|last| self.queries.position(last))
                    .unwrap_or_else(|| Position::from_time(settled));
                state.settled = settled.max(after.stamp);
                state.after = Some(after);
                None
            }
            Backfill::All => Some(None),
            Backfill::Since(since) => {
                // A time to come reports nothing stamped before it.
                state.settled = settled.max(since);
                Some(Some(Position::from_time(since)))
            }
        };
        if let Some(from) = from {
            state.after = from.clone();
            let count = self
                .call(self.salesforce.count(
                    &self.queries.count(from.as_ref()),
                    self.queries.include_deleted(),
                ))
                .await?;
            tracing::info!(
                workflow = self.context.workflow(),
                count,
                "Backfilling the existing records."
            );
            if count > BULK_BACKFILL_THRESHOLD {
                let job = self
                    .call(self.salesforce.start_bulk_query(
                        &self.queries.bulk(from.as_ref()),
                        self.queries.include_deleted(),
                    ))
                    .await?;
                state.bulk = Some(BulkProgress {
                    job,
                    from,
                    locator: None,
                    done: 0,
                    total: count as u64,
                    read_before: 0,
                });
            }
        }
        self.store(Vec::new(), &mut state).await?;
        Ok(state)
    }

    /// Reports the records after the state's start, page by page.
    async fn read_new(&self, state: &mut PollState) -> Result<usize, PollError> {
        let started = now();
        let mut from = state.start();
        let mut reported = 0;
        loop {
            let records = self.query(&self.queries.page(from.as_ref())).await?;
            let full = records.len() >= PAGE_SIZE;
            let mut fresh = Vec::new();
            for record in records {
                let Some(position) = self.queries.position(&record) else {
                    tracing::warn!(workflow = self.context.workflow(), %record, "A record without an Id or stamp was skipped.");
                    continue;
                };
                from = Some(position.clone());
                self.take(state, record, position, &mut fresh);
            }
            reported += fresh.len();
            if !fresh.is_empty() {
                self.store(fresh, state).await?;
            }
            if !full {
                break;
            }
            if self.stop.is_cancelled() {
                return Err(PollError::Stopped);
            }
        }
        state.settle(started - overlap(&self.trigger));
        self.store(Vec::new(), state).await?;
        Ok(reported)
    }

    /// Reports the rest of a Bulk API 2.0 backfill, a chunk at a time.
    async fn bulk_backfill(&self, state: &mut PollState) -> Result<usize, PollError> {
        let field_types = self.field_types().await?;
        let mut reported = 0;
        while let Some(progress) = state.bulk.clone() {
            let page = match self
                .call(
                    self.salesforce
                        .bulk_query_page(&progress.job, progress.locator.as_deref()),
                )
                .await
            {
                Ok(page) => page,
                Err(PollError::Salesforce(error)) if error.status == 404 => {
                    tracing::warn!(
                        workflow = self.context.workflow(),
                        job = progress.job,
                        "The backfill's query job is gone; starting another."
                    );
                    let job = self
                        .call(self.salesforce.start_bulk_query(
                            &self.queries.bulk(progress.from.as_ref()),
                            self.queries.include_deleted(),
                        ))
                        .await?;
                    state.bulk = Some(BulkProgress {
                        job,
                        locator: None,
                        done: 0,
                        read_before: 0,
                        ..progress
                    });
                    self.store(Vec::new(), state).await?;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let rows_in_page = page.records.len() as u64;
            let mut rows = page.records.into_iter().skip(progress.done).peekable();
            let mut done = progress.done;
            while rows.peek().is_some() {
                let mut fresh = Vec::new();
                for row in rows.by_ref().take(PAGE_SIZE) {
                    done += 1;
                    let record = Queries::record_from_row(row, &field_types);
                    match self.queries.position(&record) {
                        Some(position) => self.take(state, record, position, &mut fresh),
                        None => {
                            tracing::warn!(workflow = self.context.workflow(), %record, "A record without an Id or stamp was skipped.")
                        }
                    }
                }
                reported += fresh.len();
                if let Some(bulk) = &mut state.bulk {
                    bulk.done = done;
                }
                self.store(fresh, state).await?;
                if self.stop.is_cancelled() {
                    return Err(PollError::Stopped);
                }
            }
            state.bulk = page.next_locator.map(|locator| BulkProgress {
                locator: Some(locator),
                done: 0,
                read_before: progress.read_before + rows_in_page,
                ..progress
            });
            self.store(Vec::new(), state).await?;
        }
        Ok(reported)
    }

    /// Adds `record` to `fresh` unless a recent poll reported it, and
    /// notes it in `state`.
    fn take(
        &self,
        state: &mut PollState,
        record: Value,
        position: Position,
        fresh: &mut Vec<(String, Value)>,
    ) {
        let key = self.queries.key(&position);
        if state.reported(&key) {
            return;
        }
        state.report(key.clone(), position);
        fresh.push((key, without_attributes(record)));
    }

    /// Stores the events of `records` and `state` (the cursor, the keys
    /// reported since the last write) in one durable write.
    async fn store(
        &self,
        records: Vec<(String, Value)>,
        state: &mut PollState,
    ) -> Result<(), PollError> {
        let events = self.events(records);
        let change = state.take_change();
        let context = &self.context;
        let mut writes = vec![context.state_write(SalesforcePollTrigger::KIND, Some(&*state))?];
        if let Some((number, keys)) = &change.added {
            writes.push(context.state_write(&chunk_name(*number), Some(keys))?);
        }
        for number in &change.removed {
            writes.push(context.state_write::<Keys>(&chunk_name(*number), None)?);
        }
        context.submit(events, writes).await?;
        context.report(|status| {
            status.cursor = serde_json::to_value(&state.after).ok();
            status.backfill = state.bulk.as_ref().map(BulkProgress::progress);
        });
        Ok(())
    }

    /// One event per record (deduped by its key), or per batch.
    fn events(&self, records: Vec<(String, Value)>) -> Vec<NewEvent> {
        let (sobject, on) = (&self.trigger.sobject, self.trigger.on.as_str());
        match self.trigger.batch_size {
            None => records
                .into_iter()
                .map(|(key, record)| {
                    (
                        json!({ "sobject": sobject, "on": on, "record": record }),
                        Some(key),
                    )
                })
                .collect(),
            Some(size) => {
                let records: Vec<Value> = records.into_iter().map(|(_, record)| record).collect();
                records
                    .chunks(size.max(1))
                    .map(|batch| {
                        (
                            json!({ "sobject": sobject, "on": on, "records": batch }),
                            None,
                        )
                    })
                    .collect()
            }
        }
    }

    /// The answer of a Salesforce call, unless the trigger stops first.
    async fn call<T>(
        &self,
        call: impl Future<Output = Result<T, SalesforceError>>,
    ) -> Result<T, PollError> {
        tokio::select! {
            () = self.stop.cancelled() => Err(PollError::Stopped),
            answer = call => Ok(answer?),
        }
    }

    /// The records of one query page.
    async fn query(&self, soql: &str) -> Result<Vec<Value>, PollError> {
        let text = self
            .call(
                self.salesforce
                    .query(soql, self.queries.include_deleted(), MAX_PAGE_BYTES),
            )
            .await?;
        serde_json::from_str(&text).map_err(|error| PollError::Answer(error.to_string()))
    }

    /// The types of the polled object's fields, from its describe, by
    /// lower-cased name.
    async fn field_types(&self) -> Result<HashMap<String, FieldType>, PollError> {
        let describe = self
            .call(self.salesforce.describe(&self.trigger.sobject))
            .await?;
        Ok(FieldType::by_field(&describe))
    }
}

/// The name of the trigger state that holds chunk `number` of recent keys.
fn chunk_name(number: u64) -> String {
    format!("{}/recent/{number}", SalesforcePollTrigger::KIND)
}

/// The trigger's overlap as a time difference.
fn overlap(trigger: &SalesforcePollTrigger) -> TimeDelta {
    TimeDelta::from_std(trigger.overlap).unwrap_or(TimeDelta::zero())
}
