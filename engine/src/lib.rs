//! # Gust: workflow automation for Salesforce integrations
//!
//! A workflow is a JSON document: one trigger and a list of steps. Each step
//! is a WebAssembly component run in a wasmtime sandbox, reaching Salesforce
//! only through the actions the host provides and the workflow permits.
//!
//! What an embedding service uses:
//! - [`Engine`] and its [`Config`]: the durable store, the executor, the
//!   triggers and the HTTP routes ([`Engine::router`]) behind one handle;
//!   [`Engine::submit`], [`Engine::wait`], [`Engine::runs`] and
//!   [`Engine::run_detail`] answer in the types of [`model`] and [`api`].
//! - [`workflow`]: the definition model, [`workflow::parse`] and its
//!   [`workflow::ValidationErrors`], each with its JSON path.
//! - [`salesforce`]: the Salesforce client (the `gust-salesforce` crate),
//!   given to the engine as [`Config::salesforce`].
//! - [`store`]: the [`store::Store`] trait, for another backend than sled.
//! - [`secrets`]: secrets sealed at rest (AES-256-GCM) under a key ring.
//! - [`connections`] and [`installations`]: customers' own Salesforce
//!   connections, and workflows installed per customer
//!   ([`Engine::connections`], [`Engine::installations`]).
//!
//! The layers underneath, public for tests and tools: [`runtime`] (the
//! executor's pieces and the in-process [`runtime::LocalRunner`]),
//! [`wasm`] (the sandbox), [`trigger`] (each trigger's definition and
//! runtime), [`builtin`] (the prebuilt steps). ARCHITECTURE.md says which
//! part may use which.
//!
//! With the default `cli` feature, [`cli`] is the `gust` command line; an
//! embedding service turns it off (`default-features = false`) and builds
//! without clap, the admin client or the Salesforce emulator.

pub mod api;
pub mod builtin;
#[cfg(feature = "cli")]
pub mod cli;
mod config;
pub mod connections;
mod engine;
mod inspector;
pub mod installations;
mod metrics;
pub mod model;
pub mod runtime;
pub mod secrets;
mod server;
pub mod store;
pub mod trigger;
pub mod wasm;
pub mod workflow;

pub use config::{
    Config, DEFAULT_CONCURRENCY, DEFAULT_MAX_BACKLOG, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_READ_BYTES, DEFAULT_PUBLIC_URL, DEFAULT_RETENTION, DEFAULT_SHUTDOWN_GRACE,
    DEFAULT_STORE_CACHE_BYTES, DEFAULT_SYNC_TIMEOUT, DEFAULT_WORKERS,
};
pub use engine::{Engine, StartError};
/// The Salesforce client steps and triggers call Salesforce through (the
/// `gust-salesforce` crate).
pub use gust_salesforce as salesforce;
pub use runtime::{Overloaded, SubmitError};
pub use store::RunDetail;
