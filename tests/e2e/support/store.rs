//! A store whose disk fills up, for the tests of what is refused then.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use gust_engine::RunDetail;
use gust_engine::model::{
    ConnectSession, ConnectionEvent, ConnectionId, ConnectionIdentity, ConnectionRecord,
    InstallationId, InstallationRecord, JournalEntry, RunId, RunRecord, StateWrite, StoredOAuthApp,
};
use gust_engine::store::{
    Accepted, ConnectionStore, InstallationStore, JournalStore, JournalWrite, NewRun, QueuedRun,
    Removed, RunPage, RunQuery, StateStore, Store, StoreError, Transition, Written,
};

/// A store whose disk fills up: it reads, but once full refuses every
/// write until it is freed.
pub(crate) struct FullDisk {
    store: Arc<dyn Store>,
    /// How many more writes of events fit; `None` when there is room.
    room: std::sync::Mutex<Option<usize>>,
}

impl FullDisk {
    /// A store full from the start.
    pub(crate) fn new(store: Arc<dyn Store>) -> Self {
        Self::after(store, 0)
    }

    /// A store that takes `writes` writes of events, then is full.
    pub(crate) fn after(store: Arc<dyn Store>, writes: usize) -> Self {
        Self {
            store,
            room: std::sync::Mutex::new(Some(writes)),
        }
    }

    /// Makes room: every write succeeds again.
    pub(crate) fn free(&self) {
        *self.room.lock().unwrap() = None;
    }

    /// Whether the disk is full now.
    pub(crate) fn is_full(&self) -> bool {
        *self.room.lock().unwrap() == Some(0)
    }

    fn refuse_if_full(&self) -> Result<(), StoreError> {
        if self.is_full() {
            return Err(StoreError::Unavailable(
                "No space left on device (os error 28)".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for FullDisk {
    async fn accept(&self, run: &NewRun) -> Result<Accepted, StoreError> {
        let mut accepted = self.accept_all(std::slice::from_ref(run), &[]).await?;
        Ok(accepted.remove(0))
    }
    async fn accept_all(
        &self,
        runs: &[NewRun],
        state: &[StateWrite],
    ) -> Result<Vec<Accepted>, StoreError> {
        self.refuse_if_full()?;
        if let Some(room) = self.room.lock().unwrap().as_mut() {
            *room -= 1;
        }
        self.store.accept_all(runs, state).await
    }
    async fn transition(&self, transition: Transition, durable: bool) -> Result<(), StoreError> {
        self.refuse_if_full()?;
        self.store.transition(transition, durable).await
    }
    async fn flush(&self) -> Result<(), StoreError> {
        self.store.flush().await
    }
    async fn run(&self, id: RunId) -> Result<Option<RunRecord>, StoreError> {
        self.store.run(id).await
    }
    async fn detail(&self, id: RunId) -> Result<Option<RunDetail>, StoreError> {
        self.store.detail(id).await
    }
    async fn queued(&self) -> Result<Vec<QueuedRun>, StoreError> {
        self.store.queued().await
    }
    async fn list(&self, query: &RunQuery) -> Result<RunPage, StoreError> {
        self.store.list(query).await
    }
    async fn prune(
        &self,
        before: DateTime<Utc>,
        deduplicated_before: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        self.store.prune(before, deduplicated_before).await
    }
    fn flushes(&self) -> u64 {
        self.store.flushes()
    }
}

#[async_trait]
impl StateStore for FullDisk {
    async fn get(&self, scope: &str, key: &str) -> Result<Option<String>, StoreError> {
        StateStore::get(&*self.store, scope, key).await
    }
    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        self.refuse_if_full()?;
        self.store.apply(writes).await
    }
    async fn state_entries(&self) -> Result<Vec<StateWrite>, StoreError> {
        self.store.state_entries().await
    }
}

#[async_trait]
impl JournalStore for FullDisk {
    async fn journal(&self, run: RunId, step: &str) -> Result<Vec<JournalEntry>, StoreError> {
        self.store.journal(run, step).await
    }
    async fn run_journal(&self, run: RunId) -> Result<Vec<(String, JournalEntry)>, StoreError> {
        self.store.run_journal(run).await
    }
    async fn record(&self, write: JournalWrite<'_>, durable: bool) -> Result<(), StoreError> {
        self.refuse_if_full()?;
        self.store.record(write, durable).await
    }
}

/// Connections are written as the sled store writes them: the disk filling
/// up is about runs.
#[async_trait]
impl ConnectionStore for FullDisk {
    async fn connection(&self, id: &ConnectionId) -> Result<Option<ConnectionRecord>, StoreError> {
        self.store.connection(id).await
    }
    async fn connections(&self) -> Result<Vec<ConnectionRecord>, StoreError> {
        self.store.connections().await
    }
    async fn connection_by_identity(
        &self,
        identity: &ConnectionIdentity,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        self.store.connection_by_identity(identity).await
    }
    async fn put_connection(
        &self,
        record: &ConnectionRecord,
        expected: Option<u64>,
    ) -> Result<Written, StoreError> {
        self.store.put_connection(record, expected).await
    }
    async fn delete_connection(&self, id: &ConnectionId) -> Result<bool, StoreError> {
        self.store.delete_connection(id).await
    }
    async fn connect_session(&self, id: &str) -> Result<Option<ConnectSession>, StoreError> {
        self.store.connect_session(id).await
    }
    async fn swap_connect_session(
        &self,
        expected: Option<&ConnectSession>,
        session: &ConnectSession,
    ) -> Result<bool, StoreError> {
        self.store.swap_connect_session(expected, session).await
    }
    async fn take_connect_session(&self, session: &ConnectSession) -> Result<bool, StoreError> {
        self.store.take_connect_session(session).await
    }
    async fn connect_sessions(&self) -> Result<Vec<ConnectSession>, StoreError> {
        self.store.connect_sessions().await
    }
    async fn oauth_apps(&self) -> Result<Vec<StoredOAuthApp>, StoreError> {
        self.store.oauth_apps().await
    }
    async fn put_oauth_app(&self, app: &StoredOAuthApp) -> Result<(), StoreError> {
        self.store.put_oauth_app(app).await
    }
    async fn delete_oauth_app(&self, name: &str) -> Result<bool, StoreError> {
        self.store.delete_oauth_app(name).await
    }
    async fn put_connection_event(&self, event: &ConnectionEvent) -> Result<(), StoreError> {
        self.store.put_connection_event(event).await
    }
    async fn connection_events(&self) -> Result<Vec<ConnectionEvent>, StoreError> {
        self.store.connection_events().await
    }
    async fn delete_connection_event(&self, id: &str) -> Result<(), StoreError> {
        self.store.delete_connection_event(id).await
    }
}

/// Installations are written as the sled store writes them.
#[async_trait]
impl InstallationStore for FullDisk {
    async fn installation(
        &self,
        id: &InstallationId,
    ) -> Result<Option<InstallationRecord>, StoreError> {
        self.store.installation(id).await
    }
    async fn installations(&self) -> Result<Vec<InstallationRecord>, StoreError> {
        self.store.installations().await
    }
    async fn put_installation(
        &self,
        record: &InstallationRecord,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.store.put_installation(record, expected).await
    }
    async fn delete_installation(
        &self,
        id: &InstallationId,
        state_scope: &str,
        purge: bool,
    ) -> Result<Removed, StoreError> {
        self.store.delete_installation(id, state_scope, purge).await
    }
    async fn workflow_version(&self, hash: &str) -> Result<Option<String>, StoreError> {
        self.store.workflow_version(hash).await
    }
    async fn put_workflow_version(&self, hash: &str, definition: &str) -> Result<(), StoreError> {
        self.store.put_workflow_version(hash, definition).await
    }
}
