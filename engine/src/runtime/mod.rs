//! Running workflows: step attempts in the sandbox ([`StepRunner`]), the
//! one walk over a run's steps, the durable executor with its queue and
//! retries, the in-process runner of `gust run` ([`LocalRunner`]), and the
//! loaded workflows.

pub(crate) mod dispatch;
pub(crate) mod executor;
mod intake;
mod local;
mod steps;
mod walk;
pub(crate) mod watchers;
mod workflows;

pub use intake::{NewEvent, SubmitError};
pub use local::{LocalRunner, RunReport};
pub use steps::{PreparedWorkflow, StepRunner};
pub(crate) use workflows::Workflows;
pub use workflows::{InvalidWorkflow, WorkflowSet};
