//! The sandbox steps run in (wasmtime 48, component model).
//!
//! - [`Sandbox`]: the engine, configured once; [`Sandbox::load`]
//!   compiles a component once per content hash (kept in memory and on
//!   disk); [`Sandbox::invoke`] runs it in a fresh store.
//! - Limits per invocation ([`StepLimits`]): memory, wall-clock time (epoch
//!   interruption plus a timeout around host calls), optional fuel.
//! - WASI is locked down: no files, no environment, no sockets; stdout and
//!   stderr are captured into the step's logs, capped.
//! - Every Salesforce import checks the step's permissions first.
//! - Script steps (JavaScript, Python) run in an interpreter component of
//!   the `script` world, embedded in Gust ([`Sandbox::load_script`]), under
//!   the same limits and grants.

mod bindings;
mod cache;
mod capture;
mod error;
mod host;
mod invocation;
mod limits;
mod log_buffer;
mod runners;
mod sandbox;

pub use cache::StepComponent;
pub use error::{Error, Result};
pub use host::{InvocationContext, MAX_OUTPUT_BYTES};
pub use invocation::{Flow, Invocation, StepSuccess};
pub use limits::StepLimits;
pub use log_buffer::{MAX_LOG_BYTES, MAX_LOG_LINES};
pub use sandbox::{Sandbox, SandboxConfig, wasmtime_config};
