//! Where installations and the workflow versions they are pinned to are
//! kept.
//!
//! Installations are written with a version check, like connections: a
//! write names the version it read and is refused when another landed in
//! between, so a pause and an upgrade cannot overwrite each other.

use crate::model::{InstallationId, InstallationRecord, RunId};
use async_trait::async_trait;

use super::StoreError;

/// What deleting an installation removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removed {
    /// Whether there was an installation.
    pub installation: bool,
    /// The step and trigger state entries removed.
    pub state_entries: usize,
    /// The finished runs removed (with `purge`).
    pub runs: usize,
    /// The runs kept because they had not finished.
    pub unfinished_runs: Vec<RunId>,
}

/// The store of installations.
#[async_trait]
pub trait InstallationStore: Send + Sync {
    /// The installation `id`.
    async fn installation(
        &self,
        id: &InstallationId,
    ) -> Result<Option<InstallationRecord>, StoreError>;

    /// Every installation, by id.
    async fn installations(&self) -> Result<Vec<InstallationRecord>, StoreError>;

    /// Writes `record` if the stored one is at `expected` (`None`: if there
    /// is none), its version then one more than `expected`; `false` when
    /// another write landed first.
    async fn put_installation(
        &self,
        record: &InstallationRecord,
        expected: Option<u64>,
    ) -> Result<bool, StoreError>;

    /// Deletes installation `id` of `workflow` with its step and trigger
    /// state (the state scoped under `state_scope`), and with `purge` its
    /// finished runs too.
    async fn delete_installation(
        &self,
        id: &InstallationId,
        state_scope: &str,
        purge: bool,
    ) -> Result<Removed, StoreError>;

    /// The definition (JSON) of the workflow version `hash`, kept while an
    /// installation may be pinned to it.
    async fn workflow_version(&self, hash: &str) -> Result<Option<String>, StoreError>;

    /// Keeps the definition of the workflow version `hash`.
    async fn put_workflow_version(&self, hash: &str, definition: &str) -> Result<(), StoreError>;
}
