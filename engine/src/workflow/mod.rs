//! The workflow definition: one trigger and a list of steps, parsed from JSON
//! with unknown fields refused, then validated as a whole.
//!
//! ```json
//! {
//!   "id": "score-leads",
//!   "trigger": { "webhook": { "secret": "env:LEADS_SECRET" } },
//!   "steps": [
//!     { "id": "score", "uses": "steps/lead-score.wasm",
//!       "with": { "lead": "${trigger.body}" },
//!       "permissions": { "salesforce": { "read": ["Lead"], "write": ["Lead"] } },
//!       "timeout_ms": 2000, "memory_mb": 64,
//!       "retry": { "max_attempts": 5, "backoff_ms": 500 } }
//!   ]
//! }
//! ```

mod id;
mod installable;
mod language;
mod load;
mod permissions;
pub mod reference;
mod validate;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use gust_salesforce::SecretRef;
pub use id::{IdError, StepId, WorkflowId};
pub use installable::{ConnectionSlot, SALESFORCE_SLOT};
pub use language::Language;
pub use load::{
    LoadError, ModuleCode, ModuleError, ModuleRef, WorkflowFile, files_in, parse, script_name,
};
pub use permissions::{Access, Permissions, SObjectName, SalesforcePermissions};
pub use validate::{ValidationError, ValidationErrors};

pub use crate::trigger::Trigger;

/// A workflow: what starts it and the steps it runs, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// `"$schema": "workflow.schema.json"`: the JSON Schema editors check
    /// the file against (`gust schema` prints it); Gust ignores it.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// `"id": "score-leads"`: unique among the loaded workflows; part of its URLs.
    pub id: WorkflowId,
    /// `"description": "Scores web leads"`: free text for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `"trigger": {"webhook": {...}}`: what starts a run.
    pub trigger: Trigger,
    /// `"concurrency": 4`: the most runs of this workflow running at once;
    /// the server's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// `"config": {"type": "object", "properties": {...}}`: the JSON Schema
    /// of the settings each installation supplies, which steps read as
    /// `${config...}`. A workflow with `config` or `connections` runs only
    /// for its installations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    pub config: Option<Value>,
    /// `"connections": {"salesforce": {"description": "..."}}`: the
    /// connections each installation binds; its steps and triggers reach
    /// Salesforce through the one bound to `salesforce`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connections: BTreeMap<String, ConnectionSlot>,
    /// `"installation_concurrency": 2`: the most runs of one installation
    /// running at once; the server's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_concurrency: Option<u32>,
    /// `"steps": [...]`: run in order; a step sees the trigger event and the
    /// outputs of the steps before it.
    pub steps: Vec<Step>,
}

/// One step: a WebAssembly component, its input and what it may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// `"id": "score"`: unique in the workflow; later steps refer to its
    /// output as `${steps.score...}`.
    pub id: StepId,
    /// `"uses": "builtin:filter"`, `"uses": "steps/lead_score.wasm"` or
    /// `"uses": "steps/score.js"`: a prebuilt step, a component file, or a
    /// JavaScript (`.js`) or Python (`.py`) script, files relative to the
    /// workflow file. Absent when the step's `code` is inline.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uses: String,
    /// `"code": "export default function run(input, ctx) { ... }"`: the
    /// step's script, inline, in `language`; instead of `uses`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `"language": "javascript"` or `"python"`: the language of `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// `"source": "../lead-score"`: the Rust crate that builds `uses`,
    /// relative to the workflow file. `gust build` compiles it to `uses`;
    /// `gust serve --watch` rebuilds it when its sources change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `"with": {"lead": "${trigger.body}"}`: the step's input, with `${...}`
    /// references resolved. Without it the step receives the previous step's
    /// output, or the trigger event for the first step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with: Option<Value>,
    /// `"permissions": {"salesforce": {"read": ["Lead"]}}`: what the step
    /// may call. Nothing by default.
    #[serde(default)]
    pub permissions: Permissions,
    /// `"timeout_ms": 5000`: wall-clock limit of one attempt.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// `"memory_mb": 64`: the most linear memory the step may use.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    /// `"fuel": 1000000000`: an optional deterministic budget of executed
    /// instructions, on top of the time limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// `"retry": {"max_attempts": 3, "backoff_ms": 500}`: how a retryable
    /// failure is retried.
    #[serde(default)]
    pub retry: RetryPolicy,
}

/// The JSON Schema of workflow files, generated from these types, for
/// editors to complete and check workflows with (`gust schema`). A
/// prebuilt step's `with` is described by its input's schema, a `${...}`
/// reference allowed wherever a value goes; any other step's `with` is
/// open.
pub fn json_schema() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Workflow)).unwrap_or_default();
    crate::builtin::schema::add_inputs(&mut schema);
    schema
}

/// The default time limit of one attempt, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// The longest time limit a step may ask for, in milliseconds.
pub const MAX_TIMEOUT_MS: u64 = 15 * 60 * 1_000;
/// The default memory limit, in MiB.
pub const DEFAULT_MEMORY_MB: u32 = 64;
/// The largest memory limit a step may ask for, in MiB.
pub const MAX_MEMORY_MB: u32 = 1_024;

const fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

const fn default_memory_mb() -> u32 {
    DEFAULT_MEMORY_MB
}

/// How a step's retryable failures are retried: exponential backoff with
/// jitter, `backoff_ms * 2^(attempt-1)` capped at `max_backoff_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// `"max_attempts": 3`: attempts in all, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// `"backoff_ms": 500`: the delay before the second attempt.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// `"max_backoff_ms": 60000`: the longest delay between attempts.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

const fn default_max_attempts() -> u32 {
    3
}

const fn default_backoff_ms() -> u64 {
    500
}

const fn default_max_backoff_ms() -> u64 {
    60_000
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            backoff_ms: default_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `next_attempt` (2 for the first retry), with
    /// "equal jitter": between half and all of the exponential delay (the
    /// same [`backoff`](gust_salesforce::backoff()) Salesforce calls wait by).
    pub fn backoff(&self, next_attempt: u32) -> Duration {
        gust_salesforce::backoff(
            Duration::from_millis(self.backoff_ms),
            Duration::from_millis(self.max_backoff_ms),
            next_attempt.saturating_sub(1),
        )
    }
}

impl Workflow {
    /// Whether a step sets a fuel budget, so the runtime must meter fuel.
    pub fn uses_fuel(&self) -> bool {
        self.steps.iter().any(|step| step.fuel.is_some())
    }
}

#[cfg(test)]
mod tests;
