//! Small key-value state that persists across runs of the workflow, scoped to
//! this step: a cursor, a counter, the last id seen.
//!
//! Keys are at most 256 bytes and values at most 64 KiB of JSON.

use crate::bindings::gust::step::state as host;
use crate::{Error, Value};

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Result<Option<Value>, Error> {
    host::get(key)
        .map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(Error::from)
}

/// Stores `value` under `key`.
pub fn set(key: &str, value: &Value) -> Result<(), Error> {
    host::set(key, &value.to_string()).map_err(Error::non_retryable)
}

/// Removes `key`.
pub fn delete(key: &str) {
    host::delete(key);
}
