//! What a run is: its id and status, and the records of its steps, their
//! attempts, logs, failures, state writes and Salesforce calls.
//!
//! This is the bottom layer. It imports nothing of Gust's own, so the store
//! (any backend), the executor, the sandbox, the HTTP API and the CLI all
//! speak of runs in these types, and a change to what is stored is made here
//! once.

mod call;
mod connection;
mod failure;
mod installation;
mod log;
mod run;
mod state;
mod step;

pub use call::{CallOperation, CallOutcome, JournalEntry, SalesforceCall};
pub(crate) use connection::random_text;
pub use connection::{
    ApiUsage, ConnectSession, ConnectionEvent, ConnectionEventKind, ConnectionId,
    ConnectionIdentity, ConnectionRecord, ConnectionStatus, OpenedSession, Sealed, StoredOAuthApp,
};
pub use failure::{FailureKind, StepFailure};
pub use installation::{
    InstallationId, InstallationRecord, InstallationStatus, InvalidInstallationId, SecretDigest,
    installation_scope,
};
pub use log::{LogLevel, LogLine, LogSource};
pub use run::{InvalidRunId, InvalidRunStatus, RunId, RunRecord, RunStatus, lane, now, split_lane};
pub use state::StateWrite;
pub(crate) use step::millis;
pub use step::{Attempt, StepRecord, StepStatus};
