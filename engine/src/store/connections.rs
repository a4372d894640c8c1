//! Where connections, connect sessions, OAuth apps created through the API
//! and undelivered connection events are kept.
//!
//! Connections are written with a version check: a write names the version
//! it read and is refused when another write landed in between, so that a
//! token refresh and a reconnect (or two nodes) cannot overwrite each other.

use crate::model::{
    ConnectSession, ConnectionEvent, ConnectionId, ConnectionIdentity, ConnectionRecord,
    StoredOAuthApp,
};
use async_trait::async_trait;

use super::StoreError;

/// How many times [`ConnectionStore::update_connection`] reads again after
/// another write landed first.
const MAX_UPDATE_TRIES: usize = 8;

/// What a versioned write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// It was written.
    Done,
    /// The stored record's version is not the one the write read (or the
    /// record is gone): read it again.
    Stale,
    /// Another connection has the same tenant, org, user and app.
    IdentityTaken(ConnectionId),
}

/// The store of connections and what goes with them.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// The connection `id`.
    async fn connection(&self, id: &ConnectionId) -> Result<Option<ConnectionRecord>, StoreError>;

    /// Every connection, by id.
    async fn connections(&self) -> Result<Vec<ConnectionRecord>, StoreError>;

    /// The connection of `identity`, if there is one.
    async fn connection_by_identity(
        &self,
        identity: &ConnectionIdentity,
    ) -> Result<Option<ConnectionRecord>, StoreError>;

    /// Writes `record` if the stored one is at `expected` (`None`: if there
    /// is none), its version then one more than `expected`.
    async fn put_connection(
        &self,
        record: &ConnectionRecord,
        expected: Option<u64>,
    ) -> Result<Written, StoreError>;

    /// Applies `change` to connection `id` with a version check, reading
    /// it again whenever another write landed first: the record before and
    /// after, or `None` when there is none or `change` declines (answers
    /// `false`). `change` must not move the record to another identity.
    async fn update_connection(
        &self,
        id: &ConnectionId,
        change: &mut (dyn for<'r> FnMut(&'r mut ConnectionRecord) -> bool + Send),
    ) -> Result<Option<(ConnectionRecord, ConnectionRecord)>, StoreError> {
        for _ in 0..MAX_UPDATE_TRIES {
            let Some(before) = self.connection(id).await? else {
                return Ok(None);
            };
            let mut after = before.clone();
            if !change(&mut after) {
                return Ok(None);
            }
            match self.put_connection(&after, Some(before.version)).await? {
                Written::Done => {
                    after.version = before.version + 1;
                    return Ok(Some((before, after)));
                }
                Written::Stale => continue,
                Written::IdentityTaken(other) => {
                    return Err(StoreError::Corrupt(format!(
                        "an update moved the connection {id} onto the identity of {other}"
                    )));
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "the connection {id} kept changing under {MAX_UPDATE_TRIES} writes; try again"
        )))
    }

    /// Deletes the connection `id`; whether there was one.
    async fn delete_connection(&self, id: &ConnectionId) -> Result<bool, StoreError>;

    /// The connect session `id`.
    async fn connect_session(&self, id: &str) -> Result<Option<ConnectSession>, StoreError>;

    /// Writes `session` in place of `expected` (`None`: if there is none);
    /// `false` when the stored one is not `expected`.
    async fn swap_connect_session(
        &self,
        expected: Option<&ConnectSession>,
        session: &ConnectSession,
    ) -> Result<bool, StoreError>;

    /// Deletes `session` if it is stored as it is; `false` when it is not
    /// (spent by another caller).
    async fn take_connect_session(&self, session: &ConnectSession) -> Result<bool, StoreError>;

    /// Every connect session (to drop the expired ones).
    async fn connect_sessions(&self) -> Result<Vec<ConnectSession>, StoreError>;

    /// Every OAuth app created through the API.
    async fn oauth_apps(&self) -> Result<Vec<StoredOAuthApp>, StoreError>;

    /// Creates or replaces an OAuth app.
    async fn put_oauth_app(&self, app: &StoredOAuthApp) -> Result<(), StoreError>;

    /// Deletes an OAuth app; whether there was one.
    async fn delete_oauth_app(&self, name: &str) -> Result<bool, StoreError>;

    /// Queues (or, by its id, updates) a connection event to deliver.
    async fn put_connection_event(&self, event: &ConnectionEvent) -> Result<(), StoreError>;

    /// The connection events waiting, oldest first.
    async fn connection_events(&self) -> Result<Vec<ConnectionEvent>, StoreError>;

    /// Drops a delivered (or abandoned) connection event.
    async fn delete_connection_event(&self, id: &str) -> Result<(), StoreError>;
}
