//! [`ConnectionStore`] on sled: its own tree, apart from runs, each write
//! flushed before it returns.
//!
//! | key                                   | value                       |
//! |---------------------------------------|-----------------------------|
//! | `c` connection id                     | the connection (JSON)       |
//! | `i` tenant, 0, org, 0, user, 0, app   | the connection id           |
//! | `s` session id                        | the connect session (JSON)  |
//! | `a` app name                          | the OAuth app (JSON)        |
//! | `e` event id (UUIDv7: time order)     | the connection event (JSON) |

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{SledStore, unavailable};
use crate::model::{
    ConnectSession, ConnectionEvent, ConnectionId, ConnectionIdentity, ConnectionRecord,
    StoredOAuthApp,
};
use crate::store::StoreError;
use crate::store::connections::{ConnectionStore, Written};

/// The tree's name.
const TREE: &str = "connections";

fn key(prefix: u8, id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len());
    key.push(prefix);
    key.extend_from_slice(id.as_bytes());
    key
}

fn identity_key(identity: &ConnectionIdentity) -> Vec<u8> {
    let parts = [
        &identity.tenant,
        &identity.org_id,
        &identity.user_id,
        &identity.app,
    ];
    key(b'i', &parts.map(String::as_str).join("\0"))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Corrupt(error.to_string()))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|error| StoreError::Corrupt(format!("a stored connection record: {error}")))
}

fn transaction_error(error: TransactionError<StoreError>) -> StoreError {
    match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => unavailable(error),
    }
}

fn abort(error: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(error)
}

/// The tree, opened once with the store.
pub(super) fn open_tree(db: &sled::Db) -> Result<sled::Tree, StoreError> {
    db.open_tree(TREE).map_err(unavailable)
}

impl SledStore {
    fn scan<T: DeserializeOwned>(&self, prefix: u8) -> Result<Vec<T>, StoreError> {
        self.connections
            .scan_prefix([prefix])
            .map(|entry| decode(&entry.map_err(unavailable)?.1))
            .collect()
    }

    fn read<T: DeserializeOwned>(&self, key: Vec<u8>) -> Result<Option<T>, StoreError> {
        match self.connections.get(key).map_err(unavailable)? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn flushed<T>(&self, tree: &sled::Tree, value: T) -> Result<T, StoreError> {
        tree.flush().map_err(unavailable)?;
        Ok(value)
    }
}

#[async_trait]
impl ConnectionStore for SledStore {
    async fn connection(&self, id: &ConnectionId) -> Result<Option<ConnectionRecord>, StoreError> {
        self.read(key(b'c', id.as_str()))
    }

    async fn connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.scan(b'c')
    }

    async fn connection_by_identity(
        &self,
        identity: &ConnectionIdentity,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let tree = &self.connections;
        match tree.get(identity_key(identity)).map_err(unavailable)? {
            Some(id) => self.read([&[b'c'][..], &id].concat()),
            None => Ok(None),
        }
    }

    async fn put_connection(
        &self,
        record: &ConnectionRecord,
        expected: Option<u64>,
    ) -> Result<Written, StoreError> {
        let tree = &self.connections;
        let record_key = key(b'c', record.id.as_str());
        let identity = identity_key(&record.identity());
        let mut stored = record.clone();
        stored.version = expected.map_or(1, |version| version + 1);
        let bytes = encode(&stored)?;
        let written = tree
            .transaction(|tx| {
                let current = match tx.get(&record_key)? {
                    Some(bytes) => Some(decode::<ConnectionRecord>(&bytes).map_err(abort)?),
                    None => None,
                };
                if current.as_ref().map(|current| current.version) != expected {
                    return Ok(Written::Stale);
                }
                if let Some(owner) = tx.get(&identity)?
                    && owner.as_ref() != record.id.as_str().as_bytes()
                {
                    let owner = String::from_utf8_lossy(&owner);
                    let owner = ConnectionId::parse(&owner).ok_or_else(|| {
                        abort(StoreError::Corrupt(format!(
                            "a connection identity names `{owner}`, not a connection id"
                        )))
                    })?;
                    return Ok(Written::IdentityTaken(owner));
                }
                if let Some(current) = &current {
                    let previous = identity_key(&current.identity());
                    if previous != identity {
                        tx.remove(previous)?;
                    }
                }
                tx.insert(identity.as_slice(), record.id.as_str().as_bytes())?;
                tx.insert(record_key.as_slice(), bytes.as_slice())?;
                Ok(Written::Done)
            })
            .map_err(transaction_error)?;
        self.flushed(tree, written)
    }

    async fn delete_connection(&self, id: &ConnectionId) -> Result<bool, StoreError> {
        let tree = &self.connections;
        let record_key = key(b'c', id.as_str());
        let deleted = tree
            .transaction(|tx| {
                let Some(bytes) = tx.remove(record_key.as_slice())? else {
                    return Ok(false);
                };
                let record: ConnectionRecord = decode(&bytes).map_err(abort)?;
                tx.remove(identity_key(&record.identity()))?;
                Ok(true)
            })
            .map_err(transaction_error)?;
        self.flushed(tree, deleted)
    }

    async fn connect_session(&self, id: &str) -> Result<Option<ConnectSession>, StoreError> {
        self.read(key(b's', id))
    }

    async fn swap_connect_session(
        &self,
        expected: Option<&ConnectSession>,
        session: &ConnectSession,
    ) -> Result<bool, StoreError> {
        let tree = &self.connections;
        let old = expected.map(encode).transpose()?;
        let swapped = tree
            .compare_and_swap(key(b's', &session.id), old, Some(encode(session)?))
            .map_err(unavailable)?
            .is_ok();
        self.flushed(tree, swapped)
    }

    async fn take_connect_session(&self, session: &ConnectSession) -> Result<bool, StoreError> {
        let tree = &self.connections;
        let taken = tree
            .compare_and_swap(
                key(b's', &session.id),
                Some(encode(session)?),
                None::<Vec<u8>>,
            )
            .map_err(unavailable)?
            .is_ok();
        self.flushed(tree, taken)
    }

    async fn connect_sessions(&self) -> Result<Vec<ConnectSession>, StoreError> {
        self.scan(b's')
    }

    async fn oauth_apps(&self) -> Result<Vec<StoredOAuthApp>, StoreError> {
        self.scan(b'a')
    }

    async fn put_oauth_app(&self, app: &StoredOAuthApp) -> Result<(), StoreError> {
        let tree = &self.connections;
        tree.insert(key(b'a', &app.name), encode(app)?)
            .map_err(unavailable)?;
        self.flushed(tree, ())
    }

    async fn delete_oauth_app(&self, name: &str) -> Result<bool, StoreError> {
        let tree = &self.connections;
        let deleted = tree.remove(key(b'a', name)).map_err(unavailable)?.is_some();
        self.flushed(tree, deleted)
    }

    async fn put_connection_event(&self, event: &ConnectionEvent) -> Result<(), StoreError> {
        let tree = &self.connections;
        tree.insert(key(b'e', &event.id), encode(event)?)
            .map_err(unavailable)?;
        self.flushed(tree, ())
    }

    async fn connection_events(&self) -> Result<Vec<ConnectionEvent>, StoreError> {
        self.scan(b'e')
    }

    async fn delete_connection_event(&self, id: &str) -> Result<(), StoreError> {
        let tree = &self.connections;
        tree.remove(key(b'e', id)).map_err(unavailable)?;
        self.flushed(tree, ())
    }
}
