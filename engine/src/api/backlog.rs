//! `GET /api/backlog`: how many runs are accepted and not finished, against
//! the bound past which events are refused.

use serde::{Deserialize, Serialize};

/// The answer of `GET /api/backlog`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BacklogView {
    /// Runs accepted and not finished: queued, running, waiting for a
    /// retry or for their workflow.
    pub runs: usize,
    /// The bound (`max_backlog`): past it webhooks answer 503 with
    /// `Retry-After`, Outbound Messages a SOAP fault, and polls and
    /// schedules wait.
    pub bound: usize,
    /// Of the runs in memory, those waiting to start (due now or later).
    pub waiting: usize,
    /// Runs running now.
    pub running: usize,
}
