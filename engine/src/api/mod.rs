//! The HTTP contract: the typed bodies of the admin API and of the answers
//! to events, used alike by the server, by `gust runs` and `gust workflows`,
//! and by tests; and [`ApiError`], the one error type of the HTTP edge.

mod backlog;
mod error;
mod runs;
mod workflows;

pub use backlog::BacklogView;
pub use error::{ApiError, ErrorBody, FieldError};
pub use runs::{
    EventAccepted, ReplayParams, Replayed, RunFailed, RunList, RunListParams, StartRun,
};
pub use workflows::{
    BackfillProgress, InvalidWorkflowView, ReadyWorkflow, TriggerStatus, TriggerView, WorkflowList,
    WorkflowView,
};
