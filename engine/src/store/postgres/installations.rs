//! Installations and the workflow versions they are pinned to, in
//! PostgreSQL; an installation is written with a version check.

use async_trait::async_trait;

use super::{PostgresStore, Statements, db_error, from_json, json, run_id};
use crate::model::{InstallationId, InstallationRecord};
use crate::store::{InstallationStore, Removed, StoreError};

#[async_trait]
impl InstallationStore for PostgresStore {
    async fn installation(
        &self,
        id: &InstallationId,
    ) -> Result<Option<InstallationRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .row_opt(
                "SELECT record FROM gust_installations WHERE id = $1",
                &[&id.as_str()],
            )
            .await?;
        row.map(|row| from_json(row.get(0), "installation"))
            .transpose()
    }

    async fn installations(&self) -> Result<Vec<InstallationRecord>, StoreError> {
        let client = self.client().await?;
        client
            .rows("SELECT record FROM gust_installations ORDER BY id", &[])
            .await?
            .into_iter()
            .map(|row| from_json(row.get(0), "installation"))
            .collect()
    }

    async fn put_installation(
        &self,
        record: &InstallationRecord,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        let mut stored = record.clone();
        stored.version = expected.map_or(1, |version| version + 1);
        let version = stored.version as i64;
        let client = self.client().await?;
        // One statement either way: the insert of a new one loses to
        // another's, the update matches only the version read.
        let id = record.id.as_str();
        let stored = json(&stored);
        let written = match expected {
            None => {
                client
                    .exec(
                        "INSERT INTO gust_installations (id, version, record) \
                         VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                        &[&id, &version, &stored],
                    )
                    .await
            }
            Some(expected) => {
                client
                    .exec(
                        "UPDATE gust_installations SET version = $2, record = $3 \
                         WHERE id = $1 AND version = $4",
                        &[&id, &version, &stored, &(expected as i64)],
                    )
                    .await
            }
        };
        Ok(written? == 1)
    }

    async fn delete_installation(
        &self,
        id: &InstallationId,
        state_scope: &str,
        purge: bool,
    ) -> Result<Removed, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let installation = tx
            .exec(
                "DELETE FROM gust_installations WHERE id = $1",
                &[&id.as_str()],
            )
            .await?
            > 0;
        let state_entries = tx
            .exec(
                "DELETE FROM gust_state WHERE scope = $1 OR starts_with(scope, $1 || '/')",
                &[&state_scope],
            )
            .await? as usize;
        let unfinished_runs = tx
            .rows(
                "SELECT id FROM gust_runs WHERE installation = $1 AND due_at IS NOT NULL \
                 ORDER BY id",
                &[&id.as_str()],
            )
            .await?
            .iter()
            .map(|row| run_id(row.get(0)))
            .collect();
        let runs = match purge {
            true => {
                tx.exec(
                    "DELETE FROM gust_runs WHERE installation = $1 AND due_at IS NULL",
                    &[&id.as_str()],
                )
                .await? as usize
            }
            false => 0,
        };
        tx.commit().await.map_err(db_error)?;
        Ok(Removed {
            installation,
            state_entries,
            runs,
            unfinished_runs,
        })
    }

    async fn workflow_version(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .row_opt(
                "SELECT definition FROM gust_workflow_versions WHERE hash = $1",
                &[&hash],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn put_workflow_version(&self, hash: &str, definition: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .exec(
                "INSERT INTO gust_workflow_versions (hash, definition) VALUES ($1, $2) \
                 ON CONFLICT (hash) DO NOTHING",
                &[&hash, &definition],
            )
            .await?;
        Ok(())
    }
}
