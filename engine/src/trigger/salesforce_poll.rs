//! The Salesforce poll trigger.

use tokio_util::sync::CancellationToken;

use super::timers::StatusCell;
use crate::Engine;
use crate::workflow::SalesforcePollTrigger;

/// Runs workflow `workflow`'s poll until `stop`.
pub(crate) async fn run(
    _engine: Engine,
    _workflow: String,
    _trigger: SalesforcePollTrigger,
    _status: StatusCell,
    stop: CancellationToken,
) {
    stop.cancelled().await;
}
