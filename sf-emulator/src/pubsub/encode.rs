//! An event's Avro payload: a change event's header and values, or a
//! platform event's fields, written against the object's [`Layout`], and
//! the field bitmaps (`changedFields`, `nulledFields`) a change event's
//! header lists fields with.

use apache_avro::types::Value as Avro;
use serde_json::Value;

use super::layout::{CHANGE_TYPES, Column, Layout};
use crate::org::Fields;
use crate::org::capture::{CapturedChange, PublishedEvent};
use crate::schema::FieldType;
use crate::values;

/// Where a change sits in its transaction.
#[derive(Debug, Clone)]
pub(super) struct Commit {
    /// The transaction's key, shared by every change it made.
    pub(super) transaction_key: String,
    /// The change's place in it, from 1.
    pub(super) sequence_number: i32,
    /// The transaction's commit number.
    pub(super) commit_number: i64,
}

/// The Avro datum of change event `change`.
pub(super) fn change_event(
    layout: &Layout,
    change: &CapturedChange,
    commit: &Commit,
) -> Result<Vec<u8>, apache_avro::Error> {
    let strings = |names: Vec<String>| Avro::Array(names.into_iter().map(Avro::String).collect());
    let kind = change.kind.symbol();
    let symbol = CHANGE_TYPES
        .iter()
        .position(|symbol| *symbol == kind)
        .unwrap_or_default();
    let header = Avro::Record(vec![
        ("entityName".into(), Avro::String(change.object.clone())),
        ("recordIds".into(), strings(vec![change.id.to_string()])),
        (
            "changeType".into(),
            Avro::Enum(symbol as u32, kind.to_owned()),
        ),
        ("changeOrigin".into(), Avro::String(String::new())),
        (
            "transactionKey".into(),
            Avro::String(commit.transaction_key.clone()),
        ),
        ("sequenceNumber".into(), Avro::Int(commit.sequence_number)),
        (
            "commitTimestamp".into(),
            Avro::Long(change.at.timestamp_millis()),
        ),
        ("commitNumber".into(), Avro::Long(commit.commit_number)),
        ("commitUser".into(), Avro::String(change.user.to_string())),
        (
            "nulledFields".into(),
            strings(bitmaps(layout, &change.nulled())),
        ),
        ("diffFields".into(), strings(Vec::new())),
        (
            "changedFields".into(),
            strings(bitmaps(layout, &change.changed())),
        ),
    ]);
    let mut record = vec![("ChangeEventHeader".to_owned(), header)];
    record.extend(columns(layout, &change.fields));
    write(layout, Avro::Record(record))
}

/// The Avro datum of platform event `event`.
pub(super) fn platform_event(
    layout: &Layout,
    event: &PublishedEvent,
) -> Result<Vec<u8>, apache_avro::Error> {
    let mut record = vec![
        (
            "CreatedDate".to_owned(),
            Avro::Long(event.at.timestamp_millis()),
        ),
        (
            "CreatedById".to_owned(),
            Avro::String(event.user.to_string()),
        ),
    ];
    record.extend(columns(layout, &event.fields));
    write(layout, Avro::Record(record))
}

/// Whether `payload` reads as platform event `layout` (with its
/// `CreatedDate` and `CreatedById`); why not when it does not.
pub(super) fn check_platform_event(layout: &Layout, payload: &[u8]) -> Result<(), String> {
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&layout.schema)
        .build()
        .map_err(|error| error.to_string())?;
    let mut bytes = payload;
    let value = reader
        .read_value(&mut bytes)
        .map_err(|error| format!("The event payload can't be read with its schema: {error}"))?;
    if !bytes.is_empty() {
        return Err("The event payload has bytes after the event.".to_owned());
    }
    let Avro::Record(fields) = value else {
        return Err("The event payload is not a record.".to_owned());
    };
    let created_by = fields
        .iter()
        .find(|(name, _)| name == "CreatedById")
        .is_some_and(|(_, value)| matches!(value, Avro::String(id) if !id.is_empty()));
    if created_by {
        Ok(())
    } else {
        Err("Required fields are missing: [CreatedById]".to_owned())
    }
}

fn write(layout: &Layout, value: Avro) -> Result<Vec<u8>, apache_avro::Error> {
    apache_avro::writer::datum::GenericDatumWriter::builder(&layout.schema)
        .build()?
        .write_value_to_vec(value)
}

/// The columns of `layout` with the values in `fields`: null where
/// `fields` has none, a compound present when any of its parts is.
fn columns(layout: &Layout, fields: &Fields) -> Vec<(String, Avro)> {
    layout
        .columns
        .iter()
        .map(|column| {
            let value = match column {
                Column::Field(name, kind) => fields
                    .get(name)
                    .and_then(|value| typed(*kind, value))
                    .map_or(Avro::Union(0, Box::new(Avro::Null)), |value| {
                        Avro::Union(1, Box::new(value))
                    }),
                Column::Compound { parts, .. } => {
                    let given = parts.iter().any(|(_, source)| {
                        source
                            .as_ref()
                            .is_some_and(|(field, _)| fields.contains_key(field))
                    });
                    if given {
                        let record = parts
                            .iter()
                            .map(|(part, source)| {
                                let value = source
                                    .as_ref()
                                    .and_then(|(field, _)| fields.get(field))
                                    .and_then(|value| part_value(part, value));
                                let value = value
                                    .map_or(Avro::Union(0, Box::new(Avro::Null)), |v| {
                                        Avro::Union(1, Box::new(v))
                                    });
                                (part.clone(), value)
                            })
                            .collect();
                        Avro::Union(1, Box::new(Avro::Record(record)))
                    } else {
                        Avro::Union(0, Box::new(Avro::Null))
                    }
                }
            };
            (column.name().to_owned(), value)
        })
        .collect()
}

/// A field's JSON value as its Avro type; `None` for null.
fn typed(kind: FieldType, value: &Value) -> Option<Avro> {
    Some(match (kind, value) {
        (_, Value::Null) => return None,
        (FieldType::Boolean, Value::Bool(flag)) => Avro::Boolean(*flag),
        (FieldType::Int, Value::Number(number)) => {
            Avro::Int(number.as_i64().and_then(|n| i32::try_from(n).ok())?)
        }
        (FieldType::Double | FieldType::Currency | FieldType::Percent, Value::Number(number)) => {
            Avro::Double(number.as_f64()?)
        }
        (FieldType::Date, Value::String(text)) => {
            let days = values::parse_date(text)?
                .signed_duration_since(chrono::NaiveDate::default())
                .num_days();
            Avro::Date(i32::try_from(days).ok()?)
        }
        (FieldType::Datetime, Value::String(text)) => {
            Avro::Long(values::parse_datetime(text)?.timestamp_millis())
        }
        (_, Value::String(text)) => Avro::String(text.clone()),
        (_, other) => Avro::String(other.to_string()),
    })
}

/// A compound part's value: latitude and longitude as numbers, the rest
/// as text.
fn part_value(part: &str, value: &Value) -> Option<Avro> {
    match (part, value) {
        (_, Value::Null) => None,
        ("Latitude" | "Longitude", value) => Some(Avro::Double(value.as_f64()?)),
        (_, Value::String(text)) => Some(Avro::String(text.clone())),
        (_, other) => Some(Avro::String(other.to_string())),
    }
}

/// `names` as Salesforce lists fields in a change event header: the first
/// element a bitmap over the top-level fields (bit `i` for field `i`, the
/// header being 0), then `"<i>-0x<bitmap>"` for the parts of compound field
/// `i`. Bitmaps are upper-case hexadecimal of whole bytes, most
/// significant first.
pub fn bitmaps(layout: &Layout, names: &[String]) -> Vec<String> {
    let mut top = Vec::new();
    let mut compounds: Vec<(usize, Vec<usize>)> = Vec::new();
    for name in names {
        match layout.position(name) {
            Some((index, None)) => top.push(index),
            Some((index, Some(part))) => match compounds.iter_mut().find(|(i, _)| *i == index) {
                Some((_, parts)) => parts.push(part),
                None => compounds.push((index, vec![part])),
            },
            None => {}
        }
    }
    let mut elements = Vec::new();
    if !top.is_empty() {
        elements.push(bitmap(&top));
    }
    compounds.sort_by_key(|(index, _)| *index);
    for (index, parts) in compounds {
        elements.push(format!("{index}-{}", bitmap(&parts)));
    }
    elements
}

/// `0x` and the bits `set` as upper-case hexadecimal of whole bytes.
pub fn bitmap(set: &[usize]) -> String {
    let highest = set.iter().copied().max().unwrap_or_default();
    let mut bytes = vec![0u8; highest / 8 + 1];
    for bit in set {
        let from_end = bit / 8;
        let at = bytes.len() - 1 - from_end;
        bytes[at] |= 1 << (bit % 8);
    }
    let hex: String = bytes.iter().map(|byte| format!("{byte:02X}")).collect();
    format!("0x{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmaps_are_whole_upper_case_bytes_most_significant_first() {
        // Salesforce's own example: 0x650004E0 is fields 5, 6, 7, 10, 24,
        // 26, 29 and 30.
        assert_eq!(bitmap(&[5, 6, 7, 10, 24, 26, 29, 30]), "0x650004E0");
        assert_eq!(bitmap(&[4]), "0x10");
        assert_eq!(bitmap(&[1, 2]), "0x06");
        assert_eq!(bitmap(&[8]), "0x0100");
    }
}
