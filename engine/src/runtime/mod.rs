//! The durable side of running workflows: run records, the queue in front
//! of the store, the executor with its retries, and the loaded workflows.

pub(crate) mod executor;
mod run;
pub(crate) mod scheduler;
pub(crate) mod watchers;
mod workflows;

pub use run::{RunId, RunRecord, RunStatus, now};
pub(crate) use workflows::Workflows;
pub use workflows::{InvalidWorkflow, WorkflowSet};
