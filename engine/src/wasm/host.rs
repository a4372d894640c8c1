//! The store data of one invocation and the host side of the step's
//! imports. Every Salesforce import checks the step's permissions before
//! anything is sent.

use std::sync::Arc;

use serde_json::Value;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::gust::step::{log, salesforce, state, types};
use super::capture::CapturedOutput;
use super::limits::StepLimiter;
use super::log_buffer::LogBuffer;
use crate::model::{LogLevel, LogSource};
use crate::salesforce::access::{self, QueryRefusal};
use crate::salesforce::{
    COLLECTION_SIZE, NoConnection, SalesforceActions, SalesforceError, Untracked, WriteOperation,
    WriteOptions,
};
use crate::store::{MemoryStateStore, StepState};
use crate::workflow::{Access, Permissions};

/// What an invocation may reach: the step's grants, its Salesforce
/// connection and its state.
#[derive(Clone)]
pub struct InvocationContext {
    /// The step's id, for messages.
    pub step_id: String,
    /// What the workflow grants the step.
    pub permissions: Arc<Permissions>,
    /// The connection the step's Salesforce calls go to (journaled by the
    /// executor).
    pub salesforce: Arc<dyn SalesforceActions>,
    /// The connection the host describes objects through to check a
    /// query's relationships against the grants: not the step's calls, so
    /// not journaled.
    pub schema: Arc<dyn SalesforceActions>,
    /// The step's key-value state.
    pub state: StepState,
}

impl InvocationContext {
    /// A context that grants nothing: no Salesforce connection and state
    /// that is thrown away (an interpreter checking a script).
    pub(crate) fn none(step_id: &str) -> Self {
        let salesforce: Arc<dyn SalesforceActions> = Arc::new(NoConnection);
        Self {
            step_id: step_id.to_owned(),
            permissions: Arc::default(),
            schema: salesforce.clone(),
            salesforce,
            state: StepState::new(Arc::new(MemoryStateStore::default()), "", step_id),
        }
    }
}

/// The most bytes of stdout, and of stderr, kept per invocation.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// The data of one invocation's store.
pub(crate) struct StepHost {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: StepLimiter,
    pub(crate) logs: LogBuffer,
    pub(crate) stdout: CapturedOutput,
    pub(crate) stderr: CapturedOutput,
    context: InvocationContext,
}

/// The most live WASI resources (streams, pollables) a guest may hold.
const MAX_RESOURCES: usize = 1_000;

impl StepHost {
    pub(crate) fn new(context: InvocationContext, memory_bytes: usize) -> Self {
        let stdout = CapturedOutput::new(MAX_OUTPUT_BYTES);
        let stderr = CapturedOutput::new(MAX_OUTPUT_BYTES);
        // No preopened directories, no environment, no arguments, stdin
        // closed, no sockets, no name lookup: the step reaches the outside
        // only through Gust's own interfaces.
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Self {
            wasi,
            table,
            limiter: StepLimiter::new(memory_bytes),
            logs: LogBuffer::default(),
            stdout,
            stderr,
            context,
        }
    }

    /// Refuses `access` to `sobject` unless the step was granted it.
    fn check(&mut self, access: Access, sobject: &str) -> Result<(), types::SfError> {
        if self.context.permissions.salesforce.allows(access, sobject) {
            return Ok(());
        }
        let message = format!(
            "step `{}` may not {access} {sobject}: add \"{sobject}\" to permissions.salesforce.{access}",
            self.context.step_id
        );
        self.refuse(message)
    }

    fn refuse<T>(&mut self, message: String) -> Result<T, types::SfError> {
        self.logs
            .push(LogLevel::Warn, LogSource::Host, message.clone());
        Err(SalesforceError::permission_denied(message).into())
    }

    async fn run_query(
        &mut self,
        text: &str,
        include_deleted: bool,
    ) -> Result<String, types::SfError> {
        let grants = &self.context.permissions.salesforce;
        match access::check_reads(text, grants, self.context.schema.as_ref()).await {
            Ok(()) => {}
            Err(QueryRefusal::Salesforce(error)) => return Err(error.into()),
            Err(QueryRefusal::Denied { sobject, via }) => {
                let through = via
                    .map(|via| format!(" (through {via})"))
                    .unwrap_or_default();
                let message = format!(
                    "step `{}` may not read {sobject}{through}: add \"{sobject}\" to permissions.salesforce.read",
                    self.context.step_id
                );
                return self.refuse(message);
            }
            Err(refusal) => {
                // The query is not SOQL Gust can read.
                let message = refusal.to_string();
                return Err(SalesforceError::new(400, "MALFORMED_QUERY", message).into());
            }
        }
        // The records are copied into the guest's memory, so they cannot
        // be larger than it.
        let max_bytes = self.limiter.memory_bytes();
        Ok(self
            .salesforce()
            .query(text, include_deleted, max_bytes)
            .await?)
    }

    fn salesforce(&self) -> Arc<dyn SalesforceActions> {
        self.context.salesforce.clone()
    }
}

impl From<SalesforceError> for types::SfError {
    fn from(error: SalesforceError) -> Self {
        Self {
            retryable: error.is_retryable(),
            status: error.status,
            error_code: error.error_code,
            message: error.message,
            fields: error.fields,
        }
    }
}

/// `text` parsed as JSON, or the error the guest sees.
fn json(what: &str, text: &str) -> Result<Value, types::SfError> {
    serde_json::from_str(text)
        .map_err(|e| SalesforceError::bad_request(format!("{what} is not JSON: {e}")).into())
}

/// Runs `$body` (a block returning `Result<_, SfError>`) as the answer of a
/// trappable import: errors go back to the guest, never trap it.
macro_rules! answer {
    ($body:block) => {{
        let result: Result<_, types::SfError> = async { $body }.await;
        Ok(result)
    }};
}

impl salesforce::Host for StepHost {
    async fn query(&mut self, text: String) -> wasmtime::Result<Result<String, types::SfError>> {
        Ok(self.run_query(&text, false).await)
    }

    async fn query_all(
        &mut self,
        text: String,
    ) -> wasmtime::Result<Result<String, types::SfError>> {
        Ok(self.run_query(&text, true).await)
    }

    async fn bind(
        &mut self,
        soql: String,
        params: String,
    ) -> wasmtime::Result<Result<String, types::SfError>> {
        answer!({
            let params = json("the parameters", &params)?;
            gust_soql::bind(&soql, &params).map_err(|error| {
                SalesforceError::new(0, "GUST_QUERY_PARAMETERS", error.to_string()).into()
            })
        })
    }

    async fn get(
        &mut self,
        sobject: String,
        id: String,
        fields: Vec<String>,
    ) -> wasmtime::Result<Result<String, types::SfError>> {
        answer!({
            self.check(Access::Read, &sobject)?;
            Ok(self
                .salesforce()
                .get(&sobject, &id, &fields)
                .await?
                .to_string())
        })
    }

    async fn create(
        &mut self,
        sobject: String,
        record: String,
    ) -> wasmtime::Result<Result<String, types::SfError>> {
        answer!({
            self.check(Access::Write, &sobject)?;
            let record = json("the record", &record)?;
            Ok(self.salesforce().create(&sobject, record).await?)
        })
    }

    async fn update(
        &mut self,
        sobject: String,
        id: String,
        record: String,
    ) -> wasmtime::Result<Result<(), types::SfError>> {
        answer!({
            self.check(Access::Write, &sobject)?;
            let record = json("the record", &record)?;
            Ok(self.salesforce().update(&sobject, &id, record).await?)
        })
    }

    async fn upsert(
        &mut self,
        sobject: String,
        external_id_field: String,
        external_id: String,
        record: String,
    ) -> wasmtime::Result<Result<types::Upserted, types::SfError>> {
        answer!({
            self.check(Access::Write, &sobject)?;
            let record = json("the record", &record)?;
            let upserted = self
                .salesforce()
                .upsert(&sobject, &external_id_field, &external_id, record)
                .await?;
            Ok(types::Upserted {
                id: upserted.id,
                created: upserted.created,
            })
        })
    }

    async fn delete(
        &mut self,
        sobject: String,
        id: String,
    ) -> wasmtime::Result<Result<(), types::SfError>> {
        answer!({
            self.check(Access::Delete, &sobject)?;
            Ok(self.salesforce().delete(&sobject, &id).await?)
        })
    }

    async fn write_many(
        &mut self,
        operation: types::WriteOperation,
        sobject: String,
        records: String,
        options: types::WriteOptions,
    ) -> wasmtime::Result<Result<String, types::SfError>> {
        answer!({
            let operation = match operation {
                types::WriteOperation::Insert => WriteOperation::Insert,
                types::WriteOperation::Update => WriteOperation::Update,
                types::WriteOperation::Upsert => WriteOperation::Upsert,
                types::WriteOperation::Delete => WriteOperation::Delete,
            };
            let access = if operation == WriteOperation::Delete {
                Access::Delete
            } else {
                Access::Write
            };
            self.check(access, &sobject)?;
            let Value::Array(records) = json("the records", &records)? else {
                return Err(
                    SalesforceError::bad_request("the records must be a JSON array").into(),
                );
            };
            let options = WriteOptions {
                external_id_field: options.external_id_field,
                all_or_none: options.all_or_none,
            };
            let results = self
                .salesforce()
                .write_many(operation, &sobject, records, options, &Untracked)
                .await?;
            Ok(Value::Array(results).to_string())
        })
    }

    async fn publish(
        &mut self,
        event: String,
        events: String,
    ) -> wasmtime::Result<Result<String, types::SfError>> {
        answer!({
            if !event.ends_with("__e") {
                return Err(SalesforceError::bad_request(format!(
                    "`{event}` is not a platform event: their API names end in __e"
                ))
                .into());
            }
            self.check(Access::Write, &event)?;
            let Value::Array(events) = json("the events", &events)? else {
                return Err(SalesforceError::bad_request("the events must be a JSON array").into());
            };
            let options = WriteOptions {
                external_id_field: None,
                all_or_none: false,
            };
            let mut results = Vec::with_capacity(events.len());
            // sObject Collections only: the Bulk API does not publish events.
            for chunk in events.chunks(COLLECTION_SIZE) {
                let answer = self
                    .salesforce()
                    .write_many(
                        WriteOperation::Insert,
                        &event,
                        chunk.to_vec(),
                        options.clone(),
                        &Untracked,
                    )
                    .await?;
                results.extend(answer);
            }
            Ok(Value::Array(results).to_string())
        })
    }

    async fn describe(
        &mut self,
        sobject: String,
    ) -> wasmtime::Result<Result<String, types::SfError>> {
        answer!({
            self.check(Access::Read, &sobject)?;
            Ok(self.salesforce().describe(&sobject).await?.to_string())
        })
    }

    async fn request(
        &mut self,
        method: String,
        path: String,
        body: Option<String>,
    ) -> wasmtime::Result<Result<String, types::SfError>> {
        answer!({
            if !self.context.permissions.salesforce.request {
                let message = format!(
                    "step `{}` may not send raw requests: set permissions.salesforce.request to true",
                    self.context.step_id
                );
                return self.refuse(message);
            }
            let body = body.map(|b| json("the body", &b)).transpose()?;
            let response = self.salesforce().request(&method, &path, body).await?;
            Ok(if response.is_null() {
                String::new()
            } else {
                response.to_string()
            })
        })
    }
}

impl log::Host for StepHost {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.logs.push(level, LogSource::Log, message);
        Ok(())
    }
}

impl state::Host for StepHost {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.context.state.get(&key).await?)
    }

    fn set(&mut self, key: String, value: String) -> wasmtime::Result<Result<(), String>> {
        Ok(self
            .context
            .state
            .set(&key, value)
            .map_err(|refusal| refusal.to_string()))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.context.state.delete(&key);
        Ok(())
    }
}

impl types::Host for StepHost {}

impl WasiView for StepHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
