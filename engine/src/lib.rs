//! # Gust: workflow automation for Salesforce integrations
//!
//! A workflow is a JSON document: one trigger and a list of steps. Each step
//! is a WebAssembly component run in a wasmtime sandbox, reaching Salesforce
//! only through the actions the host provides and the workflow permits.
//!
//! - [`workflow`]: the definition model, its validation and `${...}` references.
//! - [`wasm`]: the sandboxed step runtime (component cache, limits, host imports).
//! - [`runner`]: runs a workflow's steps in order for one event.
//! - [`salesforce`]: what steps call Salesforce through.
//! - [`state`]: the key-value state steps keep across runs.
//! - [`builtin`]: the prebuilt steps compiled into Gust.
//! - [`cli`]: the `gust` command line, a thin user of the above.

pub mod builtin;
pub mod cli;
pub mod runner;
pub mod salesforce;
pub mod state;
pub mod wasm;
pub mod workflow;
