//! Running workflows: step attempts in the sandbox ([`StepRunner`]), the
//! one walk over a run's steps, the durable executor with its queue and
//! retries, the Salesforce call journal, the in-process runner of `gust run`
//! ([`LocalRunner`]), and the loaded workflows.

mod backlog;
pub(crate) mod dispatch;
pub(crate) mod executor;
mod feed;
mod fresh;
pub(crate) mod installations;
mod intake;
mod journal;
mod local;
mod steps;
mod walk;
pub(crate) mod watchers;
mod workflows;

pub(crate) use backlog::Backlog;
pub use backlog::Overloaded;
pub use intake::{NewEvent, RunFor, SubmitError};
pub use journal::{DEFAULT_MAX_READ_BYTES, OUTCOME_UNKNOWN};
pub use local::{LocalRunner, RunReport};
pub use steps::{PreparedWorkflow, StepRunner};
pub(crate) use workflows::StoredVersion;
pub(crate) use workflows::Workflows;
pub use workflows::{InvalidWorkflow, WorkflowSet};
