//! The sandboxed step runtime (wasmtime 48, component model).
//!
//! - [`StepRuntime`]: the engine, configured once; [`StepRuntime::load`]
//!   compiles a component once per content hash (kept in memory and on
//!   disk); [`StepRuntime::invoke`] runs it in a fresh store.
//! - Limits per invocation ([`StepLimits`]): memory, wall-clock time (epoch
//!   interruption plus a timeout around host calls), optional fuel.
//! - WASI is locked down: no files, no environment, no sockets; stdout and
//!   stderr are captured into the step's logs, capped.
//! - Every Salesforce import checks the step's permissions first.

mod bindings;
mod cache;
mod capture;
mod error;
mod host;
mod invocation;
mod limits;
mod logs;
mod query_access;
mod runtime;

pub use cache::StepComponent;
pub use error::{Error, Result};
pub use host::{InvocationContext, MAX_OUTPUT_BYTES};
pub use invocation::{FailureKind, Flow, Invocation, StepFailure, StepSuccess};
pub use limits::StepLimits;
pub use logs::{LogLevel, LogLine, LogSource, MAX_LOG_BYTES, MAX_LOG_LINES};
pub use runtime::{RuntimeConfig, StepRuntime, wasmtime_config};
