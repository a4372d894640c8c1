//! # Gust: workflow automation for Salesforce integrations
//!
//! A workflow is a JSON document: one trigger and a list of steps. Each step
//! is a WebAssembly component run in a wasmtime sandbox, reaching Salesforce
//! only through the actions the host provides and the workflow permits.
//!
//! - [`Engine`]: the embeddable server: durable store, executor, HTTP routes.
//! - [`workflow`]: the definition model, its validation and `${...}` references.
//! - [`wasm`]: the sandboxed step runtime (component cache, limits, host imports).
//! - [`runner`]: runs a workflow's steps, one attempt at a time or in process.
//! - [`runtime`]: run records, the queue and the durable executor.
//! - [`store`]: where runs, the queue and step state are kept.
//! - [`trigger`]: what turns inbound requests into events.
//! - [`salesforce`]: what steps call Salesforce through.
//! - [`state`]: the key-value state steps keep across runs.
//! - [`builtin`]: the prebuilt steps compiled into Gust.
//! - [`cli`]: the `gust` command line, a thin user of the above.

pub mod api;
pub mod builtin;
pub mod cli;
pub mod config;
mod engine;
mod metrics;
pub mod model;
pub mod runtime;
mod server;
pub mod store;
pub mod trigger;
pub mod wasm;
pub mod workflow;

pub use config::Config;
pub use engine::{Engine, StartError};
/// The Salesforce client steps and triggers call Salesforce through (the
/// `gust-salesforce` crate).
pub use gust_salesforce as salesforce;
pub use runtime::SubmitError;
pub use store::RunDetail;
