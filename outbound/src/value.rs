//! A field's text as the JSON value Salesforce's REST API would give.
//!
//! The SOAP message carries every value as text. With the field's type
//! (from the org's describe, or an `xsi:type` on the element) the value is
//! typed as REST types it: booleans, numbers, dates as `YYYY-MM-DD`,
//! datetimes as `2015-08-14T18:27:02.000+0000`. Without a type it is typed
//! by its form, cautiously: `true`/`false`, decimals written with a point
//! (as Salesforce writes double, currency and percent values: `120000.0`)
//! and datetimes. Digits without a point stay text, since postal codes,
//! phone numbers and account numbers look the same as integers.

use std::collections::HashMap;

use serde_json::{Number, Value};

/// The JSON type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `true` or `false`.
    Boolean,
    /// A whole number (`int`, `long`).
    Integer,
    /// A decimal number (`double`, `currency`, `percent`).
    Number,
    /// A date, kept as `YYYY-MM-DD` text.
    Date,
    /// A datetime, as REST writes it: `2015-08-14T18:27:02.000+0000`.
    DateTime,
    /// Text (every other type: ids, picklists, emails, phones, ...).
    Text,
}

impl FieldType {
    /// The type of a field whose describe says `type_name` (`boolean`,
    /// `int`, `double`, `currency`, `datetime`, ...).
    pub fn from_describe(type_name: &str) -> Self {
        match type_name {
            "boolean" => Self::Boolean,
            "int" | "long" => Self::Integer,
            "double" | "currency" | "percent" => Self::Number,
            "date" => Self::Date,
            "datetime" => Self::DateTime,
            _ => Self::Text,
        }
    }

    /// The type of every field of an sObject describe (`{"fields": [{"name":
    /// "Amount", "type": "currency"}, ...]}`), by field name in lower case
    /// (Salesforce's field names are case-insensitive).
    pub fn by_field(describe: &Value) -> HashMap<String, Self> {
        describe["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|field| {
                Some((
                    field["name"].as_str()?.to_ascii_lowercase(),
                    Self::from_describe(field["type"].as_str()?),
                ))
            })
            .collect()
    }

    /// The type an XML Schema type name (the local part of an `xsi:type`
    /// such as `xsd:double`) stands for; `None` for one it does not type.
    pub(crate) fn from_xsd(local_name: &str) -> Option<Self> {
        Some(match local_name {
            "boolean" => Self::Boolean,
            "int" | "integer" | "long" | "short" => Self::Integer,
            "double" | "decimal" | "float" => Self::Number,
            "date" => Self::Date,
            "dateTime" => Self::DateTime,
            "string" => Self::Text,
            _ => return None,
        })
    }
}

/// `text` as the JSON value of a field of type `field_type` (typed by its
/// form when `None`). Text that does not fit its type stays text; empty
/// text is `null`, as REST gives an empty field.
pub fn typed(text: String, field_type: Option<FieldType>) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    let typed = match field_type {
        // XML Schema's booleans include 1 and 0.
        Some(FieldType::Boolean) => boolean(&text).or(match text.as_str() {
            "1" => Some(Value::Bool(true)),
            "0" => Some(Value::Bool(false)),
            _ => None,
        }),
        Some(FieldType::Integer) => text
            .parse::<i64>()
            .ok()
            .map(Value::from)
            .or_else(|| number(&text)),
        Some(FieldType::Number) => number(&text),
        Some(FieldType::DateTime) => datetime(&text),
        Some(FieldType::Date | FieldType::Text) => None,
        None => boolean(&text)
            .or_else(|| is_decimal(&text).then(|| number(&text)).flatten())
            .or_else(|| datetime(&text)),
    };
    typed.unwrap_or(Value::String(text))
}

fn boolean(text: &str) -> Option<Value> {
    match text {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => None,
    }
}

fn number(text: &str) -> Option<Value> {
    let number: f64 = text.parse().ok()?;
    Number::from_f64(number).map(Value::Number)
}

/// Whether `text` is a decimal written with a point: `-12.5`, `1.0E7`.
fn is_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent
        .is_none_or(|exponent| digits(exponent.strip_prefix(['+', '-']).unwrap_or(exponent)));
    matches!(mantissa.split_once('.'), Some((whole, fraction)) if digits(whole) && digits(fraction))
        && exponent_ok
}

/// An ISO 8601 datetime with a zone, in REST's form, in UTC.
fn datetime(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    // Most text is not a datetime: look before parsing.
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[10] != b'T' {
        return None;
    }
    let moment = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let utc = moment.with_timezone(&chrono::Utc);
    Some(Value::String(
        utc.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn by_form(text: &str) -> Value {
        typed(text.to_owned(), None)
    }

    proptest::proptest! {
        /// A value Salesforce wrote as text comes back as the JSON it
        /// stands for; text typed as text, and digits without a type,
        /// stay exactly as they came.
        #[test]
        fn soap_text_types_as_the_value_it_was_written_from(
            integer in proptest::prelude::any::<i64>(),
            decimal in -1e15..1e15f64,
            flag in proptest::prelude::any::<bool>(),
            text in ".+",
            digits in "[0-9]{1,12}",
        ) {
            proptest::prop_assert_eq!(typed(integer.to_string(), Some(FieldType::Integer)), json!(integer));
            let written = format!("{decimal:?}");
            proptest::prop_assert_eq!(typed(written.clone(), Some(FieldType::Number)).as_f64(), Some(decimal));
            proptest::prop_assert_eq!(by_form(&written).as_f64(), Some(decimal));
            proptest::prop_assert_eq!(typed(flag.to_string(), Some(FieldType::Boolean)), json!(flag));
            proptest::prop_assert_eq!(by_form(&flag.to_string()), json!(flag));
            proptest::prop_assert_eq!(typed(text.clone(), Some(FieldType::Text)), json!(text));
            proptest::prop_assert_eq!(by_form(&digits), json!(digits));
        }
    }

    #[test]
    fn a_describe_gives_each_field_its_type_by_lower_case_name() {
        let describe = json!({ "fields": [
            { "name": "Amount", "type": "currency" },
            { "name": "IsWon", "type": "boolean" },
            { "name": "Name", "type": "string" },
            { "name": "Broken" },
        ] });
        let types = FieldType::by_field(&describe);
        assert_eq!(types.get("amount"), Some(&FieldType::Number));
        assert_eq!(types.get("iswon"), Some(&FieldType::Boolean));
        assert_eq!(types.get("name"), Some(&FieldType::Text));
        assert_eq!(types.len(), 3, "a field without a type is left out");
        assert!(FieldType::by_field(&json!({})).is_empty());
    }

    #[test]
    fn untyped_values_are_typed_by_their_form_cautiously() {
        assert_eq!(by_form("true"), json!(true));
        assert_eq!(by_form("false"), json!(false));
        assert_eq!(by_form("120000.0"), json!(120000.0));
        assert_eq!(by_form("-0.5"), json!(-0.5));
        assert_eq!(by_form("1.5E7"), json!(15000000.0));
        assert_eq!(by_form("98052"), json!("98052"));
        assert_eq!(by_form("02134"), json!("02134"));
        assert_eq!(by_form("1."), json!("1."));
        assert_eq!(by_form(".5"), json!(".5"));
        assert_eq!(by_form("1.2.3"), json!("1.2.3"));
        assert_eq!(by_form("2017-04-03"), json!("2017-04-03"));
        assert_eq!(
            by_form("2015-08-14T18:27:02.000Z"),
            json!("2015-08-14T18:27:02.000+0000")
        );
        assert_eq!(
            by_form("2015-08-14T20:27:02+02:00"),
            json!("2015-08-14T18:27:02.000+0000")
        );
        assert_eq!(by_form("True"), json!("True"));
        assert_eq!(by_form(""), Value::Null);
    }

    #[test]
    fn a_known_type_decides() {
        let typed_as = |text: &str, field_type| typed(text.to_owned(), Some(field_type));
        assert_eq!(typed_as("98052", FieldType::Text), json!("98052"));
        assert_eq!(typed_as("500", FieldType::Integer), json!(500));
        assert_eq!(typed_as("500.0", FieldType::Integer), json!(500.0));
        assert_eq!(typed_as("42", FieldType::Number), json!(42.0));
        assert_eq!(typed_as("lots", FieldType::Number), json!("lots"));
        assert_eq!(typed_as("true", FieldType::Text), json!("true"));
        assert_eq!(typed_as("1", FieldType::Boolean), json!(true));
        assert_eq!(typed_as("yes", FieldType::Boolean), json!("yes"));
        assert_eq!(typed_as("2017-04-03", FieldType::Date), json!("2017-04-03"));
        assert_eq!(
            typed_as("2017-12-11T21:49:24.000Z", FieldType::DateTime),
            json!("2017-12-11T21:49:24.000+0000")
        );
        assert_eq!(typed_as("NaN", FieldType::Number), json!("NaN"));
    }

    #[test]
    fn describe_and_schema_type_names_map_to_json_types() {
        assert_eq!(FieldType::from_describe("currency"), FieldType::Number);
        assert_eq!(FieldType::from_describe("datetime"), FieldType::DateTime);
        assert_eq!(FieldType::from_describe("picklist"), FieldType::Text);
        assert_eq!(FieldType::from_xsd("dateTime"), Some(FieldType::DateTime));
        assert_eq!(FieldType::from_xsd("anyType"), None);
    }
}
