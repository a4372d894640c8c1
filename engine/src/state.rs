//! Key-value state that steps keep across runs (a cursor, a counter), scoped
//! to one workflow and one step. The CLI keeps it in memory for the process;
//! the server keeps it in its store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// The largest value, in bytes of JSON text.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Where step state lives.
pub trait StateStore: Send + Sync {
    /// The value under `key` in `scope`.
    fn get(&self, scope: &str, key: &str) -> Option<String>;
    /// Stores `value` under `key` in `scope`.
    fn set(&self, scope: &str, key: &str, value: String);
    /// Removes `key` from `scope`.
    fn delete(&self, scope: &str, key: &str);
}

/// State held in memory, lost when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStateStore {
    entries: Mutex<HashMap<(String, String), String>>,
}

impl StateStore for MemoryStateStore {
    fn get(&self, scope: &str, key: &str) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&(scope.to_owned(), key.to_owned())).cloned()
    }

    fn set(&self, scope: &str, key: &str, value: String) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert((scope.to_owned(), key.to_owned()), value);
    }

    fn delete(&self, scope: &str, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&(scope.to_owned(), key.to_owned()));
    }
}

/// One step's view of the state: a store and the scope of its keys.
#[derive(Clone)]
pub struct StepState {
    store: Arc<dyn StateStore>,
    scope: String,
}

impl StepState {
    /// The state of step `step` of workflow `workflow`.
    pub fn new(store: Arc<dyn StateStore>, workflow: &str, step: &str) -> Self {
        Self {
            store,
            scope: format!("{workflow}/{step}"),
        }
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.store.get(&self.scope, key)
    }

    /// Stores `value` under `key`, or says why it cannot.
    pub fn set(&self, key: &str, value: String) -> Result<(), String> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(format!(
                "a state key is 1 to {MAX_KEY_BYTES} bytes, not {}",
                key.len()
            ));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!(
                "a state value is at most {MAX_VALUE_BYTES} bytes, not {}",
                value.len()
            ));
        }
        if serde_json::from_str::<serde_json::Value>(&value).is_err() {
            return Err("a state value must be JSON".to_owned());
        }
        self.store.set(&self.scope, key, value);
        Ok(())
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) {
        self.store.delete(&self.scope, key);
    }
}
