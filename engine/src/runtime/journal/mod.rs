//! The Salesforce call journal: every Salesforce call a step attempt makes
//! is recorded with its run, and an attempt that runs the step again gets
//! the earlier answers back instead of calling Salesforce twice.
//!
//! [`JournaledSalesforce`] stands between one attempt and the connection.
//! Each call gets its sequence within the step and a digest of its
//! arguments. A call that matches the earlier execution's call at the same
//! place (same operation, same digest) is answered from the journal; the
//! first that does not ends the replay, and it and every later call go to
//! Salesforce.
//!
//! A write that sending twice could repeat (create, update, delete, a
//! write-many other than an upsert, a raw request other than GET) is
//! recorded as sent, durably, before it goes, and its answer durably before
//! the step sees it. So a crash leaves either an answer to replay or a call
//! known to be in flight, which comes back as `GUST_OUTCOME_UNKNOWN` rather
//! than being sent twice. An upsert by external id is recorded once
//! answered (durably too): sent again, it does what it did once. Reads are
//! recorded once answered, their answers up to a size (larger ones are read
//! again). An error Salesforce answered wrote nothing, so the call is sent
//! again.

mod call;
mod replay;

use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;
use serde_json::Value;

use self::call::{Answer, CallSpec, Effect, Records};
use self::replay::{Plan, Replay, unknown_message};
use crate::model::{
    CallOperation, CallOutcome, JournalEntry, LogLevel, LogLine, LogSource, RunId, SalesforceCall,
    now,
};
use crate::salesforce::{
    BulkJobs, Result, SalesforceActions, SalesforceError, Upserted, WriteOperation, WriteOptions,
};
use crate::store::{JournalStore, JournalWrite, StoreError};

pub use self::replay::OUTCOME_UNKNOWN;

/// The default size up to which a read's answer is kept: 256 KiB.
pub const DEFAULT_MAX_READ_BYTES: usize = 256 * 1024;

/// The most record ids a write-many call lists.
const LISTED_IDS: usize = 10;

/// One attempt's Salesforce connection, journaled.
pub(crate) struct JournaledSalesforce {
    connection: Arc<dyn SalesforceActions>,
    store: Arc<dyn JournalStore>,
    run: RunId,
    step: String,
    max_read_bytes: usize,
    progress: Mutex<Progress>,
}

/// What the attempt has done so far.
struct Progress {
    replay: Replay,
    calls: Vec<SalesforceCall>,
    notes: Vec<LogLine>,
}

/// A call on its way to Salesforce.
struct Ticket {
    call: SalesforceCall,
    effect: Effect,
    forget: Range<u32>,
    started: Instant,
    /// The Bulk API 2.0 job the call follows (an earlier execution's) or
    /// opened.
    bulk_job: Mutex<Option<String>>,
}

/// How a call starts: answered already, or to be sent.
enum Start<T> {
    Answered(Result<T>),
    Send(Ticket),
}

impl JournaledSalesforce {
    /// The journal of step `step` of run `run`, whose earlier execution
    /// left `earlier`, in front of `connection`.
    pub(crate) fn new(
        connection: Arc<dyn SalesforceActions>,
        store: Arc<dyn JournalStore>,
        (run, step): (RunId, &str),
        earlier: Vec<JournalEntry>,
        max_read_bytes: usize,
    ) -> Self {
        Self {
            connection,
            store,
            run,
            step: step.to_owned(),
            max_read_bytes,
            progress: Mutex::new(Progress {
                replay: Replay::new(earlier),
                calls: Vec::new(),
                notes: Vec::new(),
            }),
        }
    }

    /// The calls the attempt made, in order, and what the journal has to
    /// say in the step's log.
    pub(crate) fn take(&self) -> (Vec<SalesforceCall>, Vec<LogLine>) {
        let mut progress = self.progress();
        (
            std::mem::take(&mut progress.calls),
            std::mem::take(&mut progress.notes),
        )
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note(progress: &mut Progress, level: LogLevel, message: String) {
        progress.notes.push(LogLine {
            level,
            source: LogSource::Host,
            message,
        });
    }

    /// Plans the call `spec` describes: answers it from the journal, or
    /// records it as sent (a write, durably) and hands back its ticket.
    async fn begin<T: Answer>(&self, spec: CallSpec) -> Start<T> {
        let digest = spec.digest();
        let mut call = SalesforceCall {
            sequence: 0,
            operation: spec.operation,
            sobject: spec.sobject.clone(),
            record_ids: spec.record_ids.clone(),
            digest: String::new(),
            started_at: now(),
            duration: std::time::Duration::ZERO,
            outcome: CallOutcome::InFlight,
            replayed: false,
        };
        let (forget, bulk_job) = {
            let mut progress = self.progress();
            let (sequence, plan, note) = progress.replay.plan(&spec, &digest);
            if let Some(note) = note {
                let level = if progress.replay.ended_at(sequence) {
                    LogLevel::Warn
                } else {
                    LogLevel::Info
                };
                Self::note(&mut progress, level, note);
            }
            call.sequence = sequence;
            call.digest = digest;
            match plan {
                Plan::Send { forget, bulk_job } => (forget, bulk_job),
                Plan::Replay { answer, earlier } => match T::decode(&answer) {
                    Some(value) => {
                        call.outcome = earlier.outcome;
                        call.record_ids = earlier.record_ids;
                        call.replayed = true;
                        progress.calls.push(call);
                        return Start::Answered(Ok(value));
                    }
                    // An answer kept unreadable: a read is sent again.
                    None if spec.effect == Effect::Read => (0..0, None),
                    None => {
                        return Start::Answered(Err(Self::unknown(&mut progress, call, earlier)));
                    }
                },
                Plan::Unknown { earlier } => {
                    return Start::Answered(Err(Self::unknown(&mut progress, call, earlier)));
                }
            }
        };
        let ticket = Ticket {
            call,
            effect: spec.effect,
            forget,
            started: Instant::now(),
            bulk_job: Mutex::new(bulk_job),
        };
        if ticket.effect == Effect::Write
            && let Err(error) = self.keep(&ticket, None, true).await
        {
            let error = not_journaled(&error);
            let mut call = ticket.call;
            call.outcome = failed(&error);
            self.progress().calls.push(call);
            return Start::Answered(Err(error));
        }
        Start::Send(ticket)
    }

    /// Records `call` as answered with [`OUTCOME_UNKNOWN`] for the earlier
    /// call whose answer was lost, and returns that error.
    fn unknown(
        progress: &mut Progress,
        mut call: SalesforceCall,
        earlier: SalesforceCall,
    ) -> SalesforceError {
        let error = SalesforceError::new(0, OUTCOME_UNKNOWN, unknown_message(&earlier));
        Self::note(
            progress,
            LogLevel::Warn,
            format!("{OUTCOME_UNKNOWN}: {}", error.message),
        );
        call.outcome = failed(&error);
        call.record_ids = earlier.record_ids;
        call.replayed = true;
        progress.calls.push(call);
        error
    }

    /// Records what Salesforce answered `ticket`'s call (a write durably)
    /// and hands it on; `describe` gives a success's HTTP status and the
    /// record ids it answered.
    async fn end<T: Answer>(
        &self,
        mut ticket: Ticket,
        result: Result<T>,
        describe: impl FnOnce(&T) -> (u16, Vec<String>),
    ) -> Result<T> {
        let call = &mut ticket.call;
        call.duration = ticket.started.elapsed();
        let answer = match &result {
            Ok(value) => {
                let text = value.encode();
                let (status, ids) = describe(value);
                call.record_ids.extend(ids);
                let bytes = text.len();
                call.outcome = CallOutcome::Succeeded { status, bytes };
                let kept = ticket.effect != Effect::Read || bytes <= self.max_read_bytes;
                kept.then_some(text)
            }
            Err(error) => {
                call.outcome = failed(error);
                None
            }
        };
        let durable = ticket.effect != Effect::Read;
        if let Err(error) = self.keep(&ticket, answer, durable).await {
            // The answer is not lost to the step; a re-execution finds the
            // call in flight (a write) or reads again.
            tracing::warn!(run = %self.run, step = %self.step, %error, "A Salesforce call's answer could not be journaled.");
        }
        self.progress().calls.push(ticket.call);
        result
    }

    /// Stores `ticket`'s call as it stands, with `answer`.
    async fn keep(
        &self,
        ticket: &Ticket,
        answer: Option<String>,
        durable: bool,
    ) -> std::result::Result<(), StoreError> {
        let entry = JournalEntry {
            call: ticket.call.clone(),
            answer,
            bulk_job: lock(&ticket.bulk_job).clone(),
        };
        let write = JournalWrite {
            run: self.run,
            step: &self.step,
            entry: &entry,
            forget: ticket.forget.clone(),
        };
        self.store.record(write, durable).await
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The outcome of a call that failed with `error`.
fn failed(error: &SalesforceError) -> CallOutcome {
    CallOutcome::Failed {
        status: error.status,
        error_code: error.error_code.clone(),
        message: error.message.clone(),
    }
}

/// The error of a write not sent because the journal could not keep it.
fn not_journaled(error: &StoreError) -> SalesforceError {
    SalesforceError::new(
        0,
        "GUST_JOURNAL_UNAVAILABLE",
        format!("the call was not sent: the store could not record it first ({error})"),
    )
}

/// Tells the journal of the Bulk API 2.0 job a write-many opens.
struct JobTracker<'a> {
    journal: &'a JournaledSalesforce,
    ticket: &'a Ticket,
}

#[async_trait]
impl BulkJobs for JobTracker<'_> {
    fn earlier(&self) -> Option<String> {
        lock(&self.ticket.bulk_job).clone()
    }

    async fn opened(&self, job_id: &str) -> Result<()> {
        *lock(&self.ticket.bulk_job) = Some(job_id.to_owned());
        self.journal
            .keep(self.ticket, None, true)
            .await
            .map_err(|error| not_journaled(&error))
    }
}

/// Runs `$send` for the call `$spec` describes unless the journal answers
/// it, and records its answer, described by `$describe`.
macro_rules! journaled {
    ($journal:expr, $spec:expr, $send:expr, $describe:expr) => {{
        let ticket = match $journal.begin($spec).await {
            Start::Answered(result) => return result,
            Start::Send(ticket) => ticket,
        };
        let result = $send.await;
        $journal.end(ticket, result, $describe).await
    }};
}

/// A read's answer: 200, no ids.
fn read<T>(_: &T) -> (u16, Vec<String>) {
    (200, Vec::new())
}

impl std::fmt::Debug for JournaledSalesforce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournaledSalesforce")
            .field("run", &self.run)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SalesforceActions for JournaledSalesforce {
    async fn query(&self, soql: &str, include_deleted: bool, max_bytes: usize) -> Result<String> {
        let operation = if include_deleted {
            CallOperation::QueryAll
        } else {
            CallOperation::Query
        };
        let spec = CallSpec::new(operation, Effect::Read).text(soql);
        let send = async {
            let records = self.connection.query(soql, include_deleted, max_bytes);
            records.await.map(Records)
        };
        let records: Result<Records> = async { journaled!(self, spec, send, read) }.await;
        records.map(|records| records.0)
    }

    async fn get(&self, sobject: &str, id: &str, fields: &[String]) -> Result<Value> {
        let mut spec = CallSpec::new(CallOperation::Get, Effect::Read)
            .sobject(sobject)
            .record_id(id);
        for field in fields {
            spec = spec.text(field);
        }
        journaled!(self, spec, self.connection.get(sobject, id, fields), read)
    }

    async fn create(&self, sobject: &str, record: Value) -> Result<String> {
        let spec = CallSpec::new(CallOperation::Create, Effect::Write)
            .sobject(sobject)
            .json(&record);
        journaled!(
            self,
            spec,
            self.connection.create(sobject, record),
            |id: &String| (201, vec![id.clone()])
        )
    }

    async fn update(&self, sobject: &str, id: &str, record: Value) -> Result<()> {
        let spec = CallSpec::new(CallOperation::Update, Effect::Write)
            .sobject(sobject)
            .record_id(id)
            .json(&record);
        journaled!(
            self,
            spec,
            self.connection.update(sobject, id, record),
            |_: &()| (204, Vec::new())
        )
    }

    async fn upsert(
        &self,
        sobject: &str,
        external_id_field: &str,
        external_id: &str,
        record: Value,
    ) -> Result<Upserted> {
        let spec = CallSpec::new(CallOperation::Upsert, Effect::Idempotent)
            .sobject(sobject)
            .text(external_id_field)
            .record_id(external_id)
            .json(&record);
        let send = self
            .connection
            .upsert(sobject, external_id_field, external_id, record);
        journaled!(self, spec, send, |upserted: &Upserted| {
            let status = if upserted.created { 201 } else { 200 };
            (status, vec![upserted.id.clone()])
        })
    }

    async fn delete(&self, sobject: &str, id: &str) -> Result<()> {
        let spec = CallSpec::new(CallOperation::Delete, Effect::Write)
            .sobject(sobject)
            .record_id(id);
        journaled!(self, spec, self.connection.delete(sobject, id), |_: &()| (
            204,
            Vec::new()
        ))
    }

    /// The caller's `jobs` is not told: the journal keeps the job.
    async fn write_many(
        &self,
        operation: WriteOperation,
        sobject: &str,
        records: Vec<Value>,
        options: WriteOptions,
        _jobs: &dyn BulkJobs,
    ) -> Result<Vec<Value>> {
        let effect = if operation == WriteOperation::Upsert {
            Effect::Idempotent
        } else {
            Effect::Write
        };
        let mut spec = CallSpec::new(CallOperation::WriteMany, effect)
            .text(&format!("{operation:?}"))
            .sobject(sobject)
            .text(options.external_id_field.as_deref().unwrap_or_default())
            .text(if options.all_or_none { "all" } else { "each" });
        for record in &records {
            spec = spec.json(record);
        }
        let ticket = match self.begin::<Vec<Value>>(spec).await {
            Start::Answered(result) => return result,
            Start::Send(ticket) => ticket,
        };
        let tracker = JobTracker {
            journal: self,
            ticket: &ticket,
        };
        let result = self
            .connection
            .write_many(operation, sobject, records, options, &tracker)
            .await;
        self.end(ticket, result, |results: &Vec<Value>| {
            let ids = results
                .iter()
                .filter_map(|result| result["id"].as_str())
                .take(LISTED_IDS)
                .map(str::to_owned)
                .collect();
            (200, ids)
        })
        .await
    }

    async fn describe(&self, sobject: &str) -> Result<Arc<Value>> {
        let spec = CallSpec::new(CallOperation::Describe, Effect::Read).sobject(sobject);
        journaled!(self, spec, self.connection.describe(sobject), read)
    }

    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let method = method.to_ascii_uppercase();
        let effect = match method.as_str() {
            "GET" | "HEAD" => Effect::Read,
            _ => Effect::Write,
        };
        let spec = CallSpec::new(CallOperation::Request, effect)
            .text(&method)
            .text(path)
            .json(body.as_ref().unwrap_or(&Value::Null));
        journaled!(
            self,
            spec,
            self.connection.request(&method, path, body),
            |_: &Value| (200, Vec::new())
        )
    }
}
