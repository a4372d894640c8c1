//! Field values as a write gives them, checked against their field and
//! kept in the form Salesforce answers with.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use serde_json::{Number, Value};

use crate::error::ApiError;
use crate::ids::RecordId;
use crate::schema::{Field, FieldType};

/// A datetime as Salesforce writes it: `2011-07-07T00:37:00.000+0000`.
pub fn format_datetime(moment: DateTime<Utc>) -> String {
    moment.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

/// Reads a datetime as Salesforce accepts it (ISO 8601 with a zone, with
/// or without the colon in the offset, `Z` too).
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|moment| moment.with_timezone(&Utc))
}

/// Reads a date, `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// `value` checked and converted for `field`.
pub fn coerce(field: &Field, value: &Value) -> Result<Value, ApiError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let wrong_type = || {
        let (expected, token) = (jackson_type(field.kind), jackson_token(value));
        ApiError::bad_request(
            "JSON_PARSER_ERROR",
            format!(
                "Cannot deserialize instance of {expected} from {token} value {} or request may be missing a required field",
                short(value)
            ),
        )
    };
    match field.kind {
        FieldType::Boolean => value.as_bool().map(Value::Bool).ok_or_else(wrong_type),
        FieldType::Int => match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map(|n| Value::Number(n.into()))
                .ok_or_else(wrong_type),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(|n| Value::Number(n.into()))
                .map_err(|_| wrong_type()),
            _ => Err(wrong_type()),
        },
        FieldType::Double | FieldType::Currency | FieldType::Percent => {
            let number = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            let number = number.ok_or_else(wrong_type)?;
            let whole_digits = number
                .abs()
                .trunc()
                .to_string()
                .trim_end_matches(".0")
                .len() as u32;
            if whole_digits > field.precision.saturating_sub(field.scale) {
                return Err(ApiError::bad_request(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    format!(
                        "{}: value outside of valid range on numeric field: {number}",
                        field.label
                    ),
                )
                .with_fields(vec![field.name.clone()]));
            }
            Number::from_f64(number)
                .map(Value::Number)
                .ok_or_else(wrong_type)
        }
        FieldType::Date => {
            let text = value.as_str().ok_or_else(wrong_type)?;
            // A datetime given for a date keeps its day.
            let day = parse_date(text).or_else(|| parse_datetime(text).map(|m| m.date_naive()));
            let day = day.ok_or_else(|| invalid_value(field, text))?;
            Ok(Value::String(day.format("%Y-%m-%d").to_string()))
        }
        FieldType::Datetime => {
            let text = value.as_str().ok_or_else(wrong_type)?;
            let moment = parse_datetime(text)
                .or_else(|| {
                    parse_date(text)
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|m| m.and_utc())
                })
                .ok_or_else(|| invalid_value(field, text))?;
            Ok(Value::String(format_datetime(moment)))
        }
        FieldType::Id | FieldType::Reference => {
            let text = value.as_str().ok_or_else(wrong_type)?;
            let id = RecordId::parse(text).ok_or_else(|| {
                ApiError::bad_request(
                    "MALFORMED_ID",
                    format!("{}: id value of incorrect type: {text}", field.label),
                )
                .with_fields(vec![field.name.clone()])
            })?;
            Ok(Value::String(id.to_string()))
        }
        kind => {
            debug_assert!(kind.is_text());
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(wrong_type()),
            };
            let length = text.chars().count() as u32;
            if length > field.length {
                return Err(ApiError::bad_request(
                    "STRING_TOO_LONG",
                    format!(
                        "{}: data value too large: {} (max length={})",
                        field.label,
                        short(&Value::String(text.clone())),
                        field.length
                    ),
                )
                .with_fields(vec![field.name.clone()]));
            }
            if kind == FieldType::Email && !text.is_empty() && !looks_like_email(&text) {
                return Err(ApiError::bad_request(
                    "INVALID_EMAIL_ADDRESS",
                    format!("{}: invalid email address: {text}", field.label),
                )
                .with_fields(vec![field.name.clone()]));
            }
            Ok(Value::String(text))
        }
    }
}

fn invalid_value(field: &Field, text: &str) -> ApiError {
    ApiError::bad_request(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        format!("{}: value not of required type: {text}", field.label),
    )
    .with_fields(vec![field.name.clone()])
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
}

/// How Salesforce's JSON parser names the type it wanted.
fn jackson_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Boolean => "boolean",
        FieldType::Int => "int",
        FieldType::Double | FieldType::Currency | FieldType::Percent => "double",
        FieldType::Date => "date",
        FieldType::Datetime => "datetime",
        _ => "string",
    }
}

/// How Salesforce's JSON parser names the token it found.
fn jackson_token(value: &Value) -> &'static str {
    match value {
        Value::Null => "VALUE_NULL",
        Value::Bool(true) => "VALUE_TRUE",
        Value::Bool(false) => "VALUE_FALSE",
        Value::Number(n) if n.is_f64() => "VALUE_NUMBER_FLOAT",
        Value::Number(_) => "VALUE_NUMBER_INT",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

/// A value in a message, cut short like Salesforce does.
fn short(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > 40 {
        format!("{}(...)", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// The time now, to the millisecond, as Salesforce keeps it.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field(kind: FieldType) -> Field {
        Field::new("Test", kind)
    }

    #[test]
    fn values_are_kept_as_salesforce_answers_them() {
        assert_eq!(
            coerce(&field(FieldType::Datetime), &json!("2011-07-07T00:37:00Z")).unwrap(),
            json!("2011-07-07T00:37:00.000+0000")
        );
        assert_eq!(
            coerce(
                &field(FieldType::Datetime),
                &json!("2011-07-07T02:37:00.000+0200")
            )
            .unwrap(),
            json!("2011-07-07T00:37:00.000+0000")
        );
        assert_eq!(
            coerce(&field(FieldType::Date), &json!("2017-04-03")).unwrap(),
            json!("2017-04-03")
        );
        assert_eq!(
            coerce(&field(FieldType::Int), &json!("42")).unwrap(),
            json!(42)
        );
        assert_eq!(
            coerce(&field(FieldType::Double), &json!(120000.0)).unwrap(),
            json!(120000.0)
        );
        assert_eq!(
            coerce(&field(FieldType::Reference), &json!("001D000000IqhSL")).unwrap(),
            json!("001D000000IqhSLIAZ")
        );
        assert_eq!(
            coerce(&field(FieldType::String), &json!(null)).unwrap(),
            json!(null)
        );
    }

    #[test]
    fn wrong_values_get_salesforce_error_codes() {
        let code = |kind, value: Value| coerce(&field(kind), &value).unwrap_err().code;
        assert_eq!(code(FieldType::Boolean, json!("yes")), "JSON_PARSER_ERROR");
        assert_eq!(code(FieldType::Double, json!("abc")), "JSON_PARSER_ERROR");
        assert_eq!(
            code(FieldType::Date, json!("03/04/2017")),
            "INVALID_TYPE_ON_FIELD_IN_RECORD"
        );
        assert_eq!(code(FieldType::Reference, json!("nope")), "MALFORMED_ID");
        assert_eq!(
            code(FieldType::Email, json!("not-an-address")),
            "INVALID_EMAIL_ADDRESS"
        );
        assert_eq!(
            code(FieldType::Double, json!(1e30)),
            "NUMBER_OUTSIDE_VALID_RANGE"
        );
        let long = "x".repeat(256);
        let error = coerce(&field(FieldType::String), &json!(long)).unwrap_err();
        assert_eq!(error.code, "STRING_TOO_LONG");
        assert!(
            error.message.ends_with("(max length=255)"),
            "{}",
            error.message
        );
        assert_eq!(error.fields, vec!["Test".to_owned()]);
    }
}
