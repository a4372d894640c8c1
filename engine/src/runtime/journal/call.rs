//! What the journal knows of a call before it is sent: its operation, what
//! it names, a digest of its arguments, and what sending it twice would do;
//! and how each kind of answer is kept as text.

use std::sync::Arc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::CallOperation;
use crate::salesforce::Upserted;

/// What sending a call again does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    /// Nothing: it reads.
    Read,
    /// What sending it once did (an upsert by external id).
    Idempotent,
    /// It may write twice (a create, a delete, a raw POST).
    Write,
}

/// A call about to be made.
#[derive(Debug, Clone)]
pub(super) struct CallSpec {
    pub(super) operation: CallOperation,
    pub(super) sobject: Option<String>,
    pub(super) record_ids: Vec<String>,
    pub(super) effect: Effect,
    digest: Sha256,
}

impl CallSpec {
    /// A call of `operation` with this effect, no arguments yet.
    pub(super) fn new(operation: CallOperation, effect: Effect) -> Self {
        let mut digest = Sha256::new();
        digest.update(operation.as_str().as_bytes());
        Self {
            operation,
            sobject: None,
            record_ids: Vec::new(),
            effect,
            digest,
        }
    }

    /// The sObject it names (an argument too).
    pub(super) fn sobject(mut self, sobject: &str) -> Self {
        self.sobject = Some(sobject.to_owned());
        self.text(sobject)
    }

    /// A record id or external id it names (an argument too).
    pub(super) fn record_id(mut self, id: &str) -> Self {
        self.record_ids.push(id.to_owned());
        self.text(id)
    }

    /// A text argument.
    pub(super) fn text(mut self, text: &str) -> Self {
        // Each argument behind its length, so that ("ab", "c") and
        // ("a", "bc") differ.
        self.digest.update((text.len() as u64).to_le_bytes());
        self.digest.update(text.as_bytes());
        self
    }

    /// A JSON argument.
    pub(super) fn json(self, value: &Value) -> Self {
        self.text(&value.to_string())
    }

    /// The digest of the operation and every argument, in hex.
    pub(super) fn digest(&self) -> String {
        hex::encode(self.digest.clone().finalize())
    }
}

/// An answer as the journal keeps it: JSON text, and back.
pub(super) trait Answer: Sized + Send {
    /// The answer as JSON text.
    fn encode(&self) -> String;
    /// The answer kept as `text`; `None` when it is not one.
    fn decode(text: &str) -> Option<Self>;
}

/// A query's records: JSON text already, kept as it is.
pub(super) struct Records(pub(super) String);

impl Answer for Records {
    fn encode(&self) -> String {
        self.0.clone()
    }

    fn decode(text: &str) -> Option<Self> {
        Some(Self(text.to_owned()))
    }
}

/// Answers kept through serde.
macro_rules! serde_answer {
    ($($answer:ty),*) => {$(
        impl Answer for $answer {
            fn encode(&self) -> String {
                serde_json::to_string(self).unwrap_or_default()
            }

            fn decode(text: &str) -> Option<Self> {
                serde_json::from_str(text).ok()
            }
        }
    )*};
}

serde_answer!(String, Value, (), Upserted, Vec<Value>);

/// A describe, shared as the client caches it.
impl Answer for Arc<Value> {
    fn encode(&self) -> String {
        self.to_string()
    }

    fn decode(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok().map(Arc::new)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_digest_tells_arguments_and_their_boundaries_apart() {
        let digest = |spec: CallSpec| spec.digest();
        let create = || CallSpec::new(CallOperation::Create, Effect::Write);
        let same = digest(create().sobject("Lead").json(&json!({ "LastName": "A" })));
        assert_eq!(
            same,
            digest(create().sobject("Lead").json(&json!({ "LastName": "A" })))
        );
        assert_ne!(
            same,
            digest(create().sobject("Lead").json(&json!({ "LastName": "B" })))
        );
        assert_ne!(
            digest(create().text("ab").text("c")),
            digest(create().text("a").text("bc"))
        );
        let update = CallSpec::new(CallOperation::Update, Effect::Write);
        assert_ne!(
            digest(update.sobject("Lead").json(&json!({ "LastName": "A" }))),
            same
        );
    }

    #[test]
    fn answers_read_back_as_they_were() {
        let upserted = Upserted {
            id: "001".to_owned(),
            created: true,
        };
        assert_eq!(Upserted::decode(&upserted.encode()), Some(upserted));
        assert_eq!(<()>::decode(&().encode()), Some(()));
        assert_eq!(
            Records::decode("[{\"Id\":\"1\"}]").unwrap().0,
            "[{\"Id\":\"1\"}]"
        );
        assert_eq!(
            String::decode(&"00Q1".to_owned().encode()).as_deref(),
            Some("00Q1")
        );
        assert_eq!(String::decode("[1]"), None);
    }
}
