//! # gust-soql: SOQL without injection
//!
//! Values never go into a query as text pasted between quotes. A query
//! names its parameters, `:email`, and [`bind`] writes each value as the
//! SOQL literal of its type, quoted and escaped by SOQL's rules:
//!
//! ```
//! use serde_json::json;
//!
//! let soql = gust_soql::bind(
//!     "SELECT Id FROM Contact WHERE LastName = :name AND Id IN :ids LIMIT :limit",
//!     &json!({ "name": "O'Reilly", "ids": ["003A", "003B"], "limit": 10 }),
//! )
//! .unwrap();
//! assert_eq!(
//!     soql,
//!     r"SELECT Id FROM Contact WHERE LastName = 'O\'Reilly' AND Id IN ('003A','003B') LIMIT 10"
//! );
//! ```
//!
//! | JSON value | SOQL literal |
//! |---|---|
//! | string | `'text'`, with `\'`, `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f` escaped |
//! | number, `true`, `false`, `null` | as written |
//! | array (for `IN`, `NOT IN`, `INCLUDES`) | `('a','b')`, at least one element, none an array |
//! | `{"date": "2026-12-03"}` | `2026-12-03` |
//! | `{"datetime": "2026-12-03T11:00:00+01:00"}` | `2026-12-03T10:00:00Z` (in UTC) |
//!
//! A date or time is given as an object because a string is always a
//! string literal: Salesforce refuses a quoted value for a date field.
//! `%` and `_` are not escaped, so a bound `LIKE` pattern keeps its
//! wildcards. `:name` inside a string literal of the query is text, and
//! `LAST_N_DAYS:30` is a date literal, not a parameter (a name starts with
//! a letter or `_`).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// Why a query cannot be bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// The parameters are not a JSON object.
    #[error("the parameters must be a JSON object of names and values, not {0}")]
    NotAnObject(&'static str),
    /// The query names a parameter that has no value.
    #[error("`:{name}` has no value; the parameters given are: {given}")]
    Unbound {
        /// The parameter.
        name: String,
        /// The names that were given, for the message.
        given: String,
    },
    /// A parameter the query never uses, which is usually a misspelling.
    #[error("the parameter `{0}` is not used by the query (it would be written `:{0}`)")]
    Unused(String),
    /// A value that has no SOQL literal.
    #[error("`:{name}`: {why}")]
    Unwritable {
        /// The parameter.
        name: String,
        /// Why its value cannot be written.
        why: String,
    },
    /// A string literal of the query is not closed.
    #[error("the query has a string literal that is not closed")]
    UnclosedString,
}

/// `text` as a SOQL string literal, quoted and escaped.
pub fn quote(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('\'');
    for c in text.chars() {
        match c {
            '\'' => literal.push_str("\\'"),
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            '\t' => literal.push_str("\\t"),
            '\u{8}' => literal.push_str("\\b"),
            '\u{c}' => literal.push_str("\\f"),
            c => literal.push(c),
        }
    }
    literal.push('\'');
    literal
}

/// The SOQL literal of `value` (see the table above), or why it has none.
pub fn literal(value: &Value) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(quote(text)),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(value.to_string()),
        Value::Array(items) if items.is_empty() => {
            Err("an empty list; `IN` needs at least one value".to_owned())
        }
        Value::Array(items) => {
            let mut elements = Vec::with_capacity(items.len());
            for item in items {
                if item.is_array() {
                    return Err("a list inside a list".to_owned());
                }
                elements.push(literal(item)?);
            }
            Ok(format!("({})", elements.join(",")))
        }
        Value::Object(map) => temporal(map),
    }
}

/// `{"date": ...}` or `{"datetime": ...}` as an unquoted literal; a
/// datetime is written in UTC.
fn temporal(map: &Map<String, Value>) -> Result<String, String> {
    let expected = "an object; only `{\"date\": \"YYYY-MM-DD\"}` and \
                    `{\"datetime\": \"YYYY-MM-DDThh:mm:ssZ\"}` stand for values";
    let (kind, text) = match map.iter().next() {
        Some((kind, Value::String(text))) if map.len() == 1 => (kind.as_str(), text.as_str()),
        _ => return Err(expected.to_owned()),
    };
    let written = match kind {
        "date" => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .map(|date| date.format("%Y-%m-%d").to_string()),
        "datetime" => DateTime::parse_from_rfc3339(text)
            .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .ok()
            .map(|time| {
                time.with_timezone(&Utc)
                    .to_rfc3339_opts(SecondsFormat::AutoSi, true)
            }),
        _ => return Err(expected.to_owned()),
    };
    written.ok_or_else(|| {
        format!(
            "`{text}` is not a {kind} ({})",
            if kind == "date" {
                "`2026-12-03`"
            } else {
                "`2026-12-03T10:00:00Z`, `2026-12-03T10:00:00.000+01:00`"
            }
        )
    })
}

/// `soql` with every `:name` replaced by the literal of `params[name]`.
/// Every parameter must be used and every name given.
pub fn bind(soql: &str, params: &Value) -> Result<String, BindError> {
    let params = match params {
        Value::Object(map) => map,
        Value::Null => &Map::new(),
        other => return Err(BindError::NotAnObject(kind(other))),
    };
    let mut used = vec![false; params.len()];
    let mut out = String::with_capacity(soql.len());
    let mut chars = soql.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\'' => {
                let end = string_end(soql, at).ok_or(BindError::UnclosedString)?;
                out.push_str(&soql[at..end]);
                while chars.peek().is_some_and(|(next, _)| *next < end) {
                    chars.next();
                }
            }
            ':' if soql[at + 1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') => {
                let name_end = soql[at + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(soql.len(), |length| at + 1 + length);
                let name = &soql[at + 1..name_end];
                let Some(index) = params.keys().position(|key| key == name) else {
                    return Err(BindError::Unbound {
                        name: name.to_owned(),
                        given: given(params),
                    });
                };
                used[index] = true;
                let value = literal(&params[name]).map_err(|why| BindError::Unwritable {
                    name: name.to_owned(),
                    why,
                })?;
                out.push_str(&value);
                while chars.peek().is_some_and(|(next, _)| *next < name_end) {
                    chars.next();
                }
            }
            c => out.push(c),
        }
    }
    if let Some(index) = used.iter().position(|used| !used) {
        let name = params.keys().nth(index).cloned().unwrap_or_default();
        return Err(BindError::Unused(name));
    }
    Ok(out)
}

/// The byte index just past the string literal starting at `start`.
fn string_end(soql: &str, start: usize) -> Option<usize> {
    let mut escaped = false;
    for (offset, c) in soql[start + 1..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '\'' => return Some(start + 1 + offset + 1),
            _ => {}
        }
    }
    None
}

fn given(params: &Map<String, Value>) -> String {
    if params.is_empty() {
        return "none".to_owned();
    }
    params
        .keys()
        .map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
