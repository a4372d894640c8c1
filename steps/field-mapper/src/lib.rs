//! # field-mapper: map source fields onto a Salesforce record
//!
//! In the spirit of Amplitude's Salesforce mapping. The input is
//! [`Mapping`] (its example is in `gust-step-inputs`), checked by
//! [`Mapping::problems`] before anything is mapped, every problem reported
//! at once. Output: `{"sobject": "Lead", "id_field": "Email", "id":
//! "ada@acme.com", "record": {"Email": ..., "Company": ...}}`, ready for an
//! upsert step. A source field that is missing and has no `default` is left
//! out of the record; a record without a value for the id field fails the
//! step.

pub use gust_step_inputs::field_mapper::{Mapping, Property};

use gust_sdk::{Error, Value, json};

/// Maps the record, or explains why it cannot.
pub fn apply(mapping: &Mapping) -> Result<Value, Error> {
    let problems = mapping.problems();
    if !problems.is_empty() {
        return Err(Error::non_retryable(format!(
            "invalid mapping: {}",
            problems.join("; ")
        )));
    }
    let mut record = serde_json::Map::new();
    for property in &mapping.properties {
        let value = lookup(&mapping.record, &property.from)
            .filter(|v| !v.is_null())
            .cloned()
            .or_else(|| property.default.clone());
        if let Some(value) = value {
            record.insert(property.to.clone(), value);
        }
    }
    let id = match record.get(&mapping.id_field) {
        Some(Value::Null) | None => {
            return Err(Error::non_retryable(format!(
                "the record has no value for the id field `{}`",
                mapping.id_field
            )));
        }
        Some(id) => id.clone(),
    };
    Ok(json!({
        "sobject": mapping.relation,
        "id_field": mapping.id_field,
        "id": id,
        "record": record,
    }))
}

/// The value at a dot path (`a.b.0`) in `value`.
fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(value, |current, segment| match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

fn run(input: Value) -> Result<Value, Error> {
    let mapping: Mapping = serde_json::from_value(input)
        .map_err(|e| Error::non_retryable(format!("invalid mapping input: {e}")))?;
    apply(&mapping)
}

gust_sdk::step!(run);

#[cfg(test)]
mod tests;
