//! [`InstallationStore`] on sled: its own tree, each write flushed before
//! it returns. Deleting an installation also removes its state and, when
//! asked, its finished runs from the runs' tree.
//!
//! | key              | value                               |
//! |------------------|-------------------------------------|
//! | `n` installation | the installation (JSON)             |
//! | `v` version hash | the workflow version's definition   |

use async_trait::async_trait;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{SledStore, keys, stored_record, unavailable};
use crate::model::{InstallationId, InstallationRecord};
use crate::store::StoreError;
use crate::store::installations::{InstallationStore, Removed};
use crate::store::writer::Batch;

/// The tree's name.
const TREE: &str = "installations";

/// The tree, opened once with the store.
pub(super) fn open_tree(db: &sled::Db) -> Result<sled::Tree, StoreError> {
    db.open_tree(TREE).map_err(unavailable)
}

fn record_key(id: &InstallationId) -> Vec<u8> {
    [b"n", id.as_str().as_bytes()].concat()
}

fn version_key(hash: &str) -> Vec<u8> {
    [b"v", hash.as_bytes()].concat()
}

fn decode(bytes: &[u8]) -> Result<InstallationRecord, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|error| StoreError::Corrupt(format!("a stored installation: {error}")))
}

#[async_trait]
impl InstallationStore for SledStore {
    async fn installation(
        &self,
        id: &InstallationId,
    ) -> Result<Option<InstallationRecord>, StoreError> {
        match self
            .installations
            .get(record_key(id))
            .map_err(unavailable)?
        {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn installations(&self) -> Result<Vec<InstallationRecord>, StoreError> {
        self.installations
            .scan_prefix(b"n")
            .map(|entry| decode(&entry.map_err(unavailable)?.1))
            .collect()
    }

    async fn put_installation(
        &self,
        record: &InstallationRecord,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        let key = record_key(&record.id);
        let mut stored = record.clone();
        stored.version = expected.map_or(1, |version| version + 1);
        let bytes =
            serde_json::to_vec(&stored).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let written = self
            .installations
            .transaction(|tx| {
                let current = match tx.get(&key)? {
                    Some(bytes) => Some(
                        decode(&bytes)
                            .map_err(ConflictableTransactionError::Abort)?
                            .version,
                    ),
                    None => None,
                };
                if current != expected {
                    return Ok(false);
                }
                tx.insert(key.as_slice(), bytes.as_slice())?;
                Ok(true)
            })
            .map_err(|error| match error {
                TransactionError::Abort(error) => error,
                TransactionError::Storage(error) => unavailable(error),
            })?;
        self.installations.flush().map_err(unavailable)?;
        Ok(written)
    }

    async fn delete_installation(
        &self,
        id: &InstallationId,
        state_scope: &str,
        purge: bool,
    ) -> Result<Removed, StoreError> {
        let mut removed = Removed {
            installation: self
                .installations
                .remove(record_key(id))
                .map_err(unavailable)?
                .is_some(),
            ..Removed::default()
        };
        self.installations.flush().map_err(unavailable)?;
        let mut batch = Batch::default();
        for prefix in [
            keys::state_scope(state_scope),
            keys::state_scopes_under(state_scope),
        ] {
            for key in self.db.scan_prefix(prefix).keys() {
                batch.remove(key.map_err(unavailable)?.to_vec());
                removed.state_entries += 1;
            }
        }
        for entry in self.db.scan_prefix(keys::installation_runs()) {
            let (key, installation) = entry.map_err(unavailable)?;
            if installation.as_ref() != id.as_str().as_bytes() {
                continue;
            }
            let Some(run) = keys::trailing_run_id(&key) else {
                continue;
            };
            let Some(value) = self.db.get(keys::run(run)).map_err(unavailable)? else {
                batch.remove(key.to_vec());
                continue;
            };
            let record = stored_record(&keys::run(run), &value)?;
            if !record.status.is_final() {
                removed.unfinished_runs.push(run);
            } else if purge {
                super::batch_remove_run(&self.db, &mut batch, &record)?;
                removed.runs += 1;
            }
        }
        batch.apply_to(&self.db).map_err(unavailable)?;
        self.db.flush().map_err(unavailable)?;
        Ok(removed)
    }

    async fn workflow_version(&self, hash: &str) -> Result<Option<String>, StoreError> {
        self.installations
            .get(version_key(hash))
            .map_err(unavailable)?
            .map(|bytes| {
                String::from_utf8(bytes.to_vec()).map_err(|_| {
                    StoreError::Corrupt(format!("the workflow version {hash} is not text"))
                })
            })
            .transpose()
    }

    async fn put_workflow_version(&self, hash: &str, definition: &str) -> Result<(), StoreError> {
        self.installations
            .insert(version_key(hash), definition.as_bytes())
            .map_err(unavailable)?;
        self.installations.flush().map_err(unavailable)?;
        Ok(())
    }
}
