//! Key-value state that steps keep across runs (a cursor, a counter), scoped
//! to one workflow and one step.
//!
//! A step's writes are buffered for the attempt (the step reads its own
//! writes) and committed when the attempt ends: by the server in the same
//! atomic batch as the attempt's record, so a step whose attempt is recorded
//! has its state written, and an attempt cut off by a crash leaves none.
//! The CLI keeps state in memory for the process.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::StoreError;
use crate::model::StateWrite;

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// The largest value, in bytes of JSON text.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Why a step's state write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateRefusal {
    /// The key is empty or too long.
    #[error("a state key is 1 to {MAX_KEY_BYTES} bytes, not {0}")]
    KeyLength(usize),
    /// The value is too large.
    #[error("a state value is at most {MAX_VALUE_BYTES} bytes, not {0}")]
    ValueTooLarge(usize),
    /// The value is not JSON text.
    #[error("a state value must be JSON")]
    NotJson,
}

/// Where step state lives.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The value under `key` in `scope`.
    async fn get(&self, scope: &str, key: &str) -> Result<Option<String>, StoreError>;
    /// Applies `writes` in order, all or none.
    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError>;
    /// Every entry, as the writes that would make it (to copy a store).
    async fn state_entries(&self) -> Result<Vec<StateWrite>, StoreError>;
}

/// State held in memory, lost when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    entries: Mutex<HashMap<(String, String), String>>,
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn get(&self, scope: &str, key: &str) -> Result<Option<String>, StoreError> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Ok(entries.get(&(scope.to_owned(), key.to_owned())).cloned())
    }

    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for write in writes {
            let entry = (write.scope.clone(), write.key.clone());
            match &write.value {
                Some(value) => entries.insert(entry, value.clone()),
                None => entries.remove(&entry),
            };
        }
        Ok(())
    }

    async fn state_entries(&self) -> Result<Vec<StateWrite>, StoreError> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Ok(entries
            .iter()
            .map(|((scope, key), value)| StateWrite {
                scope: scope.clone(),
                key: key.clone(),
                value: Some(value.clone()),
            })
            .collect())
    }
}

/// One attempt's view of a step's state: the store, the scope of its keys
/// and the writes it has made so far.
#[derive(Clone)]
pub struct StepState {
    store: Arc<dyn StateStore>,
    scope: String,
    pending: Arc<Mutex<Vec<StateWrite>>>,
}

impl StepState {
    /// The state of step `step` of workflow `workflow` (or of an
    /// installation's scope of it), with no writes yet.
    pub fn new(store: Arc<dyn StateStore>, workflow: &str, step: &str) -> Self {
        Self {
            store,
            scope: format!("{workflow}/{step}"),
            pending: Arc::default(),
        }
    }

    /// The value under `key`: the attempt's own last write, else the store's.
    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let own = {
            let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let last = pending.iter().rev().find(|write| write.key == key);
            last.map(|write| write.value.clone())
        };
        match own {
            Some(value) => Ok(value),
            None => self.store.get(&self.scope, key).await,
        }
    }

    /// Stores `value` under `key`, or says why it cannot.
    pub fn set(&self, key: &str, value: String) -> Result<(), StateRefusal> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(StateRefusal::KeyLength(key.len()));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(StateRefusal::ValueTooLarge(value.len()));
        }
        if serde_json::from_str::<serde_json::Value>(&value).is_err() {
            return Err(StateRefusal::NotJson);
        }
        self.push(key, Some(value));
        Ok(())
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) {
        self.push(key, None);
    }

    /// The writes made so far, in order, leaving none pending.
    pub fn take_writes(&self) -> Vec<StateWrite> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn push(&self, key: &str, value: Option<String>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.push(StateWrite {
            scope: self.scope.clone(),
            key: key.to_owned(),
            value,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_attempt_reads_its_own_writes_before_they_are_applied() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::default());
        store
            .apply(&[StateWrite {
                scope: "wf/a".into(),
                key: "n".into(),
                value: Some("1".into()),
            }])
            .await
            .unwrap();
        let state = StepState::new(store.clone(), "wf", "a");
        assert_eq!(state.get("n").await.unwrap().as_deref(), Some("1"));
        state.set("n", "2".into()).unwrap();
        assert_eq!(state.get("n").await.unwrap().as_deref(), Some("2"));
        assert_eq!(store.get("wf/a", "n").await.unwrap().as_deref(), Some("1"));
        state.delete("n");
        assert_eq!(state.get("n").await.unwrap(), None);

        let writes = state.take_writes();
        assert_eq!(writes.len(), 2);
        store.apply(&writes).await.unwrap();
        assert_eq!(store.get("wf/a", "n").await.unwrap(), None);
        assert!(state.take_writes().is_empty());
    }
}
