//! Connections, connect sessions, OAuth apps and connection events in
//! PostgreSQL. A connection is written with a version check inside a
//! transaction that locks its row; its identity is a unique constraint.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokio_postgres::error::SqlState;

use super::{PostgresStore, Statements, db_error, from_json, json};
use crate::model::{
    ConnectSession, ConnectionEvent, ConnectionId, ConnectionIdentity, ConnectionRecord,
    StoredOAuthApp,
};
use crate::store::{ConnectionStore, StoreError, Written};

/// The connection other than `id` that holds `identity`, if one does.
async fn identity_owner(
    tx: &Transaction<'_>,
    identity: &ConnectionIdentity,
    id: &ConnectionId,
) -> Result<Option<ConnectionId>, StoreError> {
    let row = tx
        .row_opt(
            "SELECT id FROM gust_connections \
             WHERE tenant = $1 AND org_id = $2 AND user_id = $3 AND app = $4 AND id <> $5",
            &[
                &identity.tenant,
                &identity.org_id,
                &identity.user_id,
                &identity.app,
                &id.as_str(),
            ],
        )
        .await?;
    row.map(|row| {
        let owner: String = row.get(0);
        ConnectionId::parse(&owner).ok_or_else(|| {
            StoreError::Corrupt(format!("a stored connection id `{owner}` is not one"))
        })
    })
    .transpose()
}

/// The connect session `id` as stored, its row locked.
async fn locked_session(
    tx: &Transaction<'_>,
    id: &str,
) -> Result<Option<ConnectSession>, StoreError> {
    let row = tx
        .row_opt(
            "SELECT session FROM gust_connect_sessions WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?;
    row.map(|row| from_json(row.get(0), "connect session"))
        .transpose()
}

#[async_trait]
impl ConnectionStore for PostgresStore {
    async fn connection(&self, id: &ConnectionId) -> Result<Option<ConnectionRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .row_opt(
                "SELECT record FROM gust_connections WHERE id = $1",
                &[&id.as_str()],
            )
            .await?;
        row.map(|row| from_json(row.get(0), "connection"))
            .transpose()
    }

    async fn connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        let client = self.client().await?;
        client
            .rows("SELECT record FROM gust_connections ORDER BY id", &[])
            .await?
            .into_iter()
            .map(|row| from_json(row.get(0), "connection"))
            .collect()
    }

    async fn connection_by_identity(
        &self,
        identity: &ConnectionIdentity,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .row_opt(
                "SELECT record FROM gust_connections \
                 WHERE tenant = $1 AND org_id = $2 AND user_id = $3 AND app = $4",
                &[
                    &identity.tenant,
                    &identity.org_id,
                    &identity.user_id,
                    &identity.app,
                ],
            )
            .await?;
        row.map(|row| from_json(row.get(0), "connection"))
            .transpose()
    }

    async fn put_connection(
        &self,
        record: &ConnectionRecord,
        expected: Option<u64>,
    ) -> Result<Written, StoreError> {
        let mut stored = record.clone();
        stored.version = expected.map_or(1, |version| version + 1);
        let identity = record.identity();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let current = tx
            .row_opt(
                "SELECT version FROM gust_connections WHERE id = $1 FOR UPDATE",
                &[&record.id.as_str()],
            )
            .await?
            .map(|row| row.get::<_, i64>(0) as u64);
        if current != expected {
            return Ok(Written::Stale);
        }
        if let Some(owner) = identity_owner(&tx, &identity, &record.id).await? {
            return Ok(Written::IdentityTaken(owner));
        }
        let written = tx
            .execute(
                "INSERT INTO gust_connections (id, tenant, org_id, user_id, app, version, record) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (id) DO UPDATE SET tenant = EXCLUDED.tenant, org_id = EXCLUDED.org_id, \
                 user_id = EXCLUDED.user_id, app = EXCLUDED.app, version = EXCLUDED.version, \
                 record = EXCLUDED.record",
                &[
                    &record.id.as_str(),
                    &identity.tenant,
                    &identity.org_id,
                    &identity.user_id,
                    &identity.app,
                    &(stored.version as i64),
                    &json(&stored),
                ],
            )
            .await;
        match written {
            Ok(_) => {}
            // Another node stored the same identity (or id) first.
            Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
                drop(tx);
                let tx = client.transaction().await.map_err(db_error)?;
                return Ok(match identity_owner(&tx, &identity, &record.id).await? {
                    Some(owner) => Written::IdentityTaken(owner),
                    None => Written::Stale,
                });
            }
            Err(error) => return Err(db_error(error)),
        }
        tx.commit().await.map_err(db_error)?;
        Ok(Written::Done)
    }

    async fn delete_connection(&self, id: &ConnectionId) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let deleted = client
            .exec(
                "DELETE FROM gust_connections WHERE id = $1",
                &[&id.as_str()],
            )
            .await?;
        Ok(deleted > 0)
    }

    async fn connect_session(&self, id: &str) -> Result<Option<ConnectSession>, StoreError> {
        let client = self.client().await?;
        let row = client
            .row_opt(
                "SELECT session FROM gust_connect_sessions WHERE id = $1",
                &[&id],
            )
            .await?;
        row.map(|row| from_json(row.get(0), "connect session"))
            .transpose()
    }

    async fn swap_connect_session(
        &self,
        expected: Option<&ConnectSession>,
        session: &ConnectSession,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let current = locked_session(&tx, &session.id).await?;
        if current.as_ref() != expected {
            return Ok(false);
        }
        let sql = match expected {
            // Two callers making the same session: the first insert wins.
            None => {
                "INSERT INTO gust_connect_sessions (id, session) VALUES ($1, $2) \
                 ON CONFLICT (id) DO NOTHING"
            }
            Some(_) => "UPDATE gust_connect_sessions SET session = $2 WHERE id = $1",
        };
        let written = tx.exec(sql, &[&session.id, &json(session)]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(written == 1)
    }

    async fn take_connect_session(&self, session: &ConnectSession) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        if locked_session(&tx, &session.id).await?.as_ref() != Some(session) {
            return Ok(false);
        }
        tx.exec(
            "DELETE FROM gust_connect_sessions WHERE id = $1",
            &[&session.id],
        )
        .await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn connect_sessions(&self) -> Result<Vec<ConnectSession>, StoreError> {
        let client = self.client().await?;
        client
            .rows("SELECT session FROM gust_connect_sessions ORDER BY id", &[])
            .await?
            .into_iter()
            .map(|row| from_json(row.get(0), "connect session"))
            .collect()
    }

    async fn oauth_apps(&self) -> Result<Vec<StoredOAuthApp>, StoreError> {
        let client = self.client().await?;
        client
            .rows("SELECT app FROM gust_oauth_apps ORDER BY name", &[])
            .await?
            .into_iter()
            .map(|row| from_json(row.get(0), "OAuth app"))
            .collect()
    }

    async fn put_oauth_app(&self, app: &StoredOAuthApp) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .exec(
                "INSERT INTO gust_oauth_apps (name, app) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET app = EXCLUDED.app",
                &[&app.name, &json(app)],
            )
            .await?;
        Ok(())
    }

    async fn delete_oauth_app(&self, name: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let deleted = client
            .exec("DELETE FROM gust_oauth_apps WHERE name = $1", &[&name])
            .await?;
        Ok(deleted > 0)
    }

    async fn put_connection_event(&self, event: &ConnectionEvent) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .exec(
                "INSERT INTO gust_connection_events (id, event) VALUES ($1, $2) \
                 ON CONFLICT (id) DO UPDATE SET event = EXCLUDED.event",
                &[&event.id, &json(event)],
            )
            .await?;
        Ok(())
    }

    async fn connection_events(&self) -> Result<Vec<ConnectionEvent>, StoreError> {
        let client = self.client().await?;
        client
            .rows("SELECT event FROM gust_connection_events ORDER BY id", &[])
            .await?
            .into_iter()
            .map(|row| from_json(row.get(0), "connection event"))
            .collect()
    }

    async fn delete_connection_event(&self, id: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .exec("DELETE FROM gust_connection_events WHERE id = $1", &[&id])
            .await?;
        Ok(())
    }
}
