//! What change data capture and platform events see of the org's writes:
//! each write of a record as a [`CapturedChange`], each platform event
//! published as a [`PublishedEvent`], kept in the order they were made
//! until the event bus takes them (at the end of the request, so that the
//! writes of one request are one transaction).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Fields;
use crate::ids::RecordId;

/// What a write did to a record, as a change event's `changeType` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The record was created.
    Create,
    /// Fields of the record were changed.
    Update,
    /// The record was deleted (to the recycle bin).
    Delete,
    /// The record was restored from the recycle bin.
    Undelete,
}

impl ChangeKind {
    /// Its `changeType` symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Undelete => "UNDELETE",
        }
    }
}

/// One write of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedChange {
    /// The record's object.
    pub object: String,
    /// The record.
    pub id: RecordId,
    /// What the write did.
    pub kind: ChangeKind,
    /// The values the event carries: every non-empty field of a created
    /// or undeleted record, the fields an update changed (null for those
    /// emptied), none for a delete.
    pub fields: Fields,
    /// When the write was made.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub user: RecordId,
}

impl CapturedChange {
    /// The fields an update changed, in the object's field order.
    pub fn changed(&self) -> Vec<String> {
        match self.kind {
            ChangeKind::Update => self.fields.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The fields an update emptied.
    pub fn nulled(&self) -> Vec<String> {
        match self.kind {
            ChangeKind::Update => self
                .fields
                .iter()
                .filter(|(_, value)| value.is_null())
                .map(|(name, _)| name.clone())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A platform event published through a create of its `__e` object.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedEvent {
    /// The event's object (`Order_Placed__e`).
    pub object: String,
    /// Its UUID (what Pub/Sub clients see as the event's id).
    pub uuid: String,
    /// Its fields as given.
    pub fields: Fields,
    /// When it was published.
    pub at: DateTime<Utc>,
    /// Who published it.
    pub user: RecordId,
}

/// A write the event bus is told of.
#[derive(Debug, Clone, PartialEq)]
pub enum Captured {
    /// A record changed.
    Change(CapturedChange),
    /// A platform event was published.
    Event(PublishedEvent),
}

/// The fields whose values differ between `before` and `after`, with their
/// new values, in the order of `order` (the object's fields).
pub(super) fn differences<'a>(
    order: impl Iterator<Item = &'a str>,
    before: &Fields,
    after: &Fields,
) -> Fields {
    order
        .filter_map(|name| {
            let new = after.get(name).unwrap_or(&Value::Null);
            (before.get(name).unwrap_or(&Value::Null) != new)
                .then(|| (name.to_owned(), new.clone()))
        })
        .collect()
}

/// The non-empty fields of `record`.
pub(super) fn filled(record: &Fields) -> Fields {
    record
        .iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}
