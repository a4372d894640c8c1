//! An event's Avro payload as clean JSON: records as objects without their
//! null fields, unions unwrapped, enum symbols as strings, dates as
//! `YYYY-MM-DD`, bytes in base64. A change event's `ChangeEventHeader`
//! keeps every field, its `changedFields`, `nulledFields` and `diffFields`
//! decoded from Salesforce's bitmaps into field names (see [`bitmap`]).
//!
//! [`bitmap`]: crate::bitmap

use apache_avro::Schema;
use apache_avro::types::Value as Avro;
use base64::Engine as _;
use serde_json::{Map, Number, Value, json};

use crate::bitmap::{FieldNames, field_names};

/// The header's fields that are bitmaps.
const BITMAP_FIELDS: [&str; 3] = ["changedFields", "nulledFields", "diffFields"];

/// An event payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The schema is not an Avro schema of a record.
    #[error("the event schema is not valid Avro: {0}")]
    Schema(String),
    /// The payload does not read with its schema.
    #[error("the event does not read with its schema: {0}")]
    Payload(String),
    /// A header's field bitmap is malformed.
    #[error("the change event header's {field} is malformed: {reason}")]
    Bitmap {
        /// `changedFields`, `nulledFields` or `diffFields`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A schema events are written with, read once and kept by its id.
#[derive(Debug)]
pub struct EventSchema {
    schema: Schema,
    names: FieldNames,
}

impl EventSchema {
    /// Reads `json`, a schema as GetSchema answers it.
    pub fn parse(json: &str) -> Result<Self, DecodeError> {
        let schema =
            Schema::parse_str(json).map_err(|error| DecodeError::Schema(error.to_string()))?;
        let value: Value =
            serde_json::from_str(json).map_err(|error| DecodeError::Schema(error.to_string()))?;
        Ok(Self {
            schema,
            names: FieldNames::of(&value),
        })
    }

    /// `payload` as clean JSON.
    pub fn decode(&self, payload: &[u8]) -> Result<Value, DecodeError> {
        let reader = apache_avro::reader::datum::GenericDatumReader::builder(&self.schema)
            .build()
            .map_err(|error| DecodeError::Schema(error.to_string()))?;
        let mut bytes = payload;
        let value = reader
            .read_value(&mut bytes)
            .map_err(|error| DecodeError::Payload(error.to_string()))?;
        let mut json = to_json(value);
        if let Some(header) = json
            .get_mut("ChangeEventHeader")
            .and_then(Value::as_object_mut)
        {
            for field in BITMAP_FIELDS {
                if let Some(Value::Array(encoded)) = header.get(field) {
                    let encoded: Vec<&str> = encoded.iter().filter_map(Value::as_str).collect();
                    let names = field_names(&self.names, &encoded)
                        .map_err(|reason| DecodeError::Bitmap { field, reason })?;
                    header.insert(field.to_owned(), json!(names));
                }
            }
        }
        Ok(json)
    }
}

/// A decoded Avro value as JSON: a record's null fields left out (but a
/// change event header's kept whole).
fn to_json(value: Avro) -> Value {
    match value {
        Avro::Null => Value::Null,
        Avro::Boolean(flag) => Value::Bool(flag),
        Avro::Int(n) | Avro::TimeMillis(n) => json!(n),
        Avro::Long(n)
        | Avro::TimeMicros(n)
        | Avro::TimestampMillis(n)
        | Avro::TimestampMicros(n)
        | Avro::TimestampNanos(n)
        | Avro::LocalTimestampMillis(n)
        | Avro::LocalTimestampMicros(n)
        | Avro::LocalTimestampNanos(n) => json!(n),
        Avro::Float(n) => Number::from_f64(f64::from(n)).map_or(Value::Null, Value::Number),
        Avro::Double(n) => Number::from_f64(n).map_or(Value::Null, Value::Number),
        Avro::Bytes(bytes) | Avro::Fixed(_, bytes) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Avro::String(text) | Avro::Enum(_, text) => Value::String(text),
        Avro::Union(_, inner) => to_json(*inner),
        Avro::Array(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Avro::Map(entries) => Value::Object(
            entries
                .into_iter()
                .map(|(key, value)| (key, to_json(value)))
                .collect(),
        ),
        Avro::Record(fields) => {
            let header = fields
                .iter()
                .any(|(name, _)| name == "changeType" || name == "entityName");
            let mut object = Map::new();
            for (name, value) in fields {
                let value = to_json(value);
                if header || !value.is_null() {
                    object.insert(name, value);
                }
            }
            Value::Object(object)
        }
        Avro::Date(days) => chrono::NaiveDate::default()
            .checked_add_signed(chrono::Duration::days(i64::from(days)))
            .map_or(json!(days), |date| {
                json!(date.format("%Y-%m-%d").to_string())
            }),
        Avro::Uuid(uuid) => Value::String(uuid.to_string()),
        other @ (Avro::Decimal(_) | Avro::BigDecimal(_) | Avro::Duration(_)) => {
            Value::String(format!("{other:?}"))
        }
    }
}
