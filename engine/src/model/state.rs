//! A write to a step's key-value state, committed with the attempt that
//! made it.

/// One write to the state: a value stored or removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    /// `workflow/step`.
    pub scope: String,
    /// The key.
    pub key: String,
    /// The new value, or `None` to remove the key.
    pub value: Option<String>,
}
