//! Records by the values of their unique and external id fields, so that
//! upserts, unique checks and reads by external id do not scan the org.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::{Fields, is_deleted};
use crate::ids::RecordId;
use crate::schema::Schema;

/// The live records of each (object, field) by value; a field is indexed
/// when it is unique or an external id.
#[derive(Clone, Debug, Default)]
pub(super) struct ValueIndex {
    fields: HashMap<(String, String), HashMap<String, BTreeSet<RecordId>>>,
}

/// How a value is looked up: text without regard to ASCII case, as
/// external ids compare; anything else exactly.
fn key(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(format!("s:{}", text.to_ascii_lowercase())),
        other => Some(format!("v:{other}")),
    }
}

impl ValueIndex {
    /// The index of `records` under `schema`.
    pub(super) fn build(schema: &Schema, records: &BTreeMap<RecordId, Fields>) -> Self {
        let mut index = Self::default();
        for object in schema.objects() {
            for field in object.fields.iter().filter(|f| f.unique || f.external_id) {
                index
                    .fields
                    .insert((object.name.clone(), field.name.clone()), HashMap::new());
            }
        }
        for (id, fields) in records {
            if let Some(object) = schema.object_by_prefix(id.key_prefix())
                && !is_deleted(fields)
            {
                index.insert(&object.name, id, fields);
            }
        }
        index
    }

    /// The Ids whose `field` of `object` equals `value`, in Id order;
    /// `None` when the field is not indexed.
    pub(super) fn find(&self, object: &str, field: &str, value: &Value) -> Option<Vec<RecordId>> {
        let values = self.fields.get(&(object.to_owned(), field.to_owned()))?;
        Some(
            key(value)
                .and_then(|key| values.get(&key))
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default(),
        )
    }

    /// Adds record `id`'s indexed `fields`.
    pub(super) fn insert(&mut self, object: &str, id: &RecordId, fields: &Fields) {
        self.each(object, fields, |ids| {
            ids.insert(id.clone());
        });
    }

    /// Removes record `id`'s indexed `fields`.
    pub(super) fn remove(&mut self, object: &str, id: &RecordId, fields: &Fields) {
        self.each(object, fields, |ids| {
            ids.remove(id);
        });
    }

    fn each(
        &mut self,
        object: &str,
        fields: &Fields,
        mut apply: impl FnMut(&mut BTreeSet<RecordId>),
    ) {
        for ((indexed_object, field), values) in &mut self.fields {
            if indexed_object != object {
                continue;
            }
            if let Some(key) = fields.get(field).and_then(key) {
                apply(values.entry(key).or_default());
            }
        }
    }
}
