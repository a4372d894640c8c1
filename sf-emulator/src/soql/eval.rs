//! Runs a parsed query against the org: fields resolved (through parent
//! relationships), records filtered, sorted, cut and shaped like
//! Salesforce's query results.

use std::cmp::Ordering;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::parser::{Condition, Literal, Operator, Path};
use crate::ids::RecordId;
use crate::org::{Fields, Org};
use crate::schema::{Field, FieldType, Object};
use crate::values::{parse_date, parse_datetime};

/// A field reached from the queried object, through reference fields.
#[derive(Debug, Clone)]
pub(super) struct Resolved {
    hops: Vec<Field>,
    pub(super) field: Field,
}

/// Why a query cannot run: the message (after its position) and code.
pub(super) struct Invalid {
    pub(super) column: usize,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl Resolved {
    /// The path as results name it: relationship names, then the field.
    pub(super) fn column(&self) -> String {
        self.hops
            .iter()
            .map(|hop| hop.relationship_name.as_deref().unwrap_or(&hop.name))
            .chain([self.field.name.as_str()])
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// Finds `path` from `object`.
pub(super) fn resolve(org: &Org, object: &Object, path: &Path) -> Result<Resolved, Invalid> {
    let mut current = vec![object.clone()];
    let mut hops = Vec::new();
    let (last, relationships) = path.parts.split_last().expect("a path has a part");
    for part in relationships {
        let hop = current
            .iter()
            .find_map(|object| object.relationship(part))
            .cloned()
            .ok_or_else(|| Invalid {
                column: path.column,
                code: "INVALID_FIELD",
                message: format!(
                    "Didn't understand relationship '{part}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                ),
            })?;
        current = hop
            .reference_to
            .iter()
            .filter_map(|name| org.schema().object(name).cloned())
            .collect();
        hops.push(hop);
    }
    let field = current
        .iter()
        .find_map(|object| object.field(last))
        .cloned();
    let field = field.ok_or_else(|| Invalid {
        column: path.column,
        code: "INVALID_FIELD",
        message: format!(
            "No such column '{last}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
            current.first().map_or(object.name.as_str(), |o| o.name.as_str())
        ),
    })?;
    Ok(Resolved { hops, field })
}

/// The condition with its paths resolved and its literals checked.
pub(super) enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare(Resolved, Operator, Literal),
    In(Resolved, bool, Vec<Literal>),
}

pub(super) fn filter(org: &Org, object: &Object, condition: &Condition) -> Result<Filter, Invalid> {
    Ok(match condition {
        Condition::And(a, b) => Filter::And(
            Box::new(filter(org, object, a)?),
            Box::new(filter(org, object, b)?),
        ),
        Condition::Or(a, b) => Filter::Or(
            Box::new(filter(org, object, a)?),
            Box::new(filter(org, object, b)?),
        ),
        Condition::Not(a) => Filter::Not(Box::new(filter(org, object, a)?)),
        Condition::Compare(path, operator, literal) => {
            let resolved = resolve(org, object, path)?;
            check_literal(&resolved.field, literal, path.column)?;
            if *operator == Operator::Like && !resolved.field.kind.is_text() {
                return Err(Invalid {
                    column: path.column,
                    code: "INVALID_QUERY_FILTER_OPERATOR",
                    message: format!(
                        "invalid operator on {} field: LIKE",
                        kind_word(resolved.field.kind)
                    ),
                });
            }
            Filter::Compare(resolved, *operator, literal.clone())
        }
        Condition::In(path, negated, literals) => {
            let resolved = resolve(org, object, path)?;
            for literal in literals {
                check_literal(&resolved.field, literal, path.column)?;
            }
            Filter::In(resolved, *negated, literals.clone())
        }
    })
}

fn kind_word(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Boolean => "boolean",
        FieldType::Int => "integer",
        FieldType::Double | FieldType::Currency | FieldType::Percent => "double",
        FieldType::Date => "date",
        FieldType::Datetime => "dateTime",
        FieldType::Id | FieldType::Reference => "id",
        _ => "string",
    }
}

/// Salesforce refuses a literal of the wrong type for its field.
fn check_literal(field: &Field, literal: &Literal, column: usize) -> Result<(), Invalid> {
    let fits = match (field.kind, literal) {
        (_, Literal::Null) => true,
        (FieldType::Boolean, Literal::Bool(_)) => true,
        (kind, Literal::Number(_)) if kind.is_number() => true,
        (FieldType::Date, Literal::Temporal(t)) => parse_date(t).is_some(),
        (FieldType::Datetime, Literal::Temporal(t)) => parse_datetime(t).is_some(),
        (FieldType::Date | FieldType::Datetime, Literal::Days(..)) => true,
        (kind, Literal::Text(_)) => {
            kind.is_text() || matches!(kind, FieldType::Id | FieldType::Reference)
        }
        _ => false,
    };
    if fits {
        return Ok(());
    }
    let quoted = if matches!(literal, Literal::Text(_)) {
        " and should not be enclosed in quotes"
    } else {
        ""
    };
    Err(Invalid {
        column,
        code: "INVALID_QUERY_FILTER_OPERATOR",
        message: format!(
            "value of filter criterion for field '{}' must be of type {}{quoted}",
            field.name,
            kind_word(field.kind)
        ),
    })
}

/// The value `resolved` reaches from `record` (null past a missing parent).
pub(super) fn value_of<'a>(
    org: &'a Org,
    record: &'a Fields,
    resolved: &Resolved,
) -> Option<&'a Value> {
    let mut current = record;
    for hop in &resolved.hops {
        let id = current.get(&hop.name)?.as_str().and_then(RecordId::parse)?;
        current = org.record(&id)?;
    }
    current
        .get(&resolved.field.name)
        .filter(|value| !value.is_null())
}

pub(super) fn matches(org: &Org, record: &Fields, filter: &Filter, today: NaiveDate) -> bool {
    match filter {
        Filter::And(a, b) => matches(org, record, a, today) && matches(org, record, b, today),
        Filter::Or(a, b) => matches(org, record, a, today) || matches(org, record, b, today),
        Filter::Not(a) => !matches(org, record, a, today),
        Filter::Compare(resolved, operator, literal) => compare(
            &resolved.field,
            value_of(org, record, resolved),
            *operator,
            literal,
            today,
        ),
        Filter::In(resolved, negated, literals) => {
            let value = value_of(org, record, resolved);
            let found = literals
                .iter()
                .any(|literal| compare(&resolved.field, value, Operator::Eq, literal, today));
            found != *negated
        }
    }
}

fn compare(
    field: &Field,
    value: Option<&Value>,
    operator: Operator,
    literal: &Literal,
    today: NaiveDate,
) -> bool {
    let (value, literal) = match (value, literal) {
        (None, Literal::Null) => return operator == Operator::Eq,
        (Some(_), Literal::Null) => return operator == Operator::Ne,
        // A null differs from every value.
        (None, _) => return operator == Operator::Ne,
        (Some(value), literal) => (value, literal),
    };
    if let Literal::Days(from, to) = literal {
        return compare_days(field, value, operator, *from, *to, today);
    }
    if operator == Operator::Like {
        return match (value.as_str(), literal) {
            (Some(text), Literal::Text(pattern)) => like(text, pattern),
            _ => false,
        };
    }
    let ordering = match (field.kind, value, literal) {
        (FieldType::Boolean, Value::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        (kind, Value::Number(a), Literal::Number(b)) if kind.is_number() => {
            a.as_f64().and_then(|a| a.partial_cmp(b))
        }
        (FieldType::Date, Value::String(a), Literal::Temporal(b)) => {
            parse_date(a).zip(parse_date(b)).map(|(a, b)| a.cmp(&b))
        }
        (FieldType::Datetime, Value::String(a), Literal::Temporal(b)) => parse_datetime(a)
            .zip(parse_datetime(b))
            .map(|(a, b)| a.cmp(&b)),
        (FieldType::Id | FieldType::Reference, Value::String(a), Literal::Text(b)) => {
            let same = RecordId::parse(b).is_some_and(|b| b.as_str() == a);
            Some(if same {
                Ordering::Equal
            } else {
                a.as_str().cmp(b.as_str())
            })
        }
        (_, Value::String(a), Literal::Text(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        _ => None,
    };
    let Some(ordering) = ordering else {
        return operator == Operator::Ne;
    };
    match operator {
        Operator::Eq => ordering == Ordering::Equal,
        Operator::Ne => ordering != Ordering::Equal,
        Operator::Lt => ordering == Ordering::Less,
        Operator::Gt => ordering == Ordering::Greater,
        Operator::Le => ordering != Ordering::Greater,
        Operator::Ge => ordering != Ordering::Less,
        Operator::Like => false,
    }
}

/// A date or datetime against a range of days from today (UTC): `= TODAY`
/// is within it, `< TODAY` before it, `> TODAY` after it.
fn compare_days(
    field: &Field,
    value: &Value,
    operator: Operator,
    from: i64,
    to: i64,
    today: NaiveDate,
) -> bool {
    let shift = |days: i64| {
        if days >= 0 {
            today.checked_add_days(Days::new(days as u64))
        } else {
            today.checked_sub_days(Days::new(days.unsigned_abs()))
        }
    };
    let (Some(start), Some(end)) = (shift(from), shift(to)) else {
        return false;
    };
    let day = match field.kind {
        FieldType::Date => value.as_str().and_then(parse_date),
        _ => value
            .as_str()
            .and_then(parse_datetime)
            .map(|moment: DateTime<Utc>| moment.date_naive()),
    };
    let Some(day) = day else {
        return false;
    };
    let within = start <= day && day < end;
    match operator {
        Operator::Eq => within,
        Operator::Ne => !within,
        Operator::Lt => day < start,
        Operator::Le => day < end,
        Operator::Gt => day >= end,
        Operator::Ge => day >= start,
        Operator::Like => false,
    }
}

/// SOQL's LIKE: `%` any run, `_` one character, case-insensitive.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let (mut t, mut p) = (0, 0);
    let (mut star, mut star_text) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '_' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            star = Some(p);
            star_text = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            star_text += 1;
            t = star_text;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

/// Orders records `a` and `b` by the value `resolved` reaches.
pub(super) fn order_by(
    org: &Org,
    a: &Fields,
    b: &Fields,
    resolved: &Resolved,
    descending: bool,
    nulls_last: bool,
) -> Ordering {
    let (x, y) = (value_of(org, a, resolved), value_of(org, b, resolved));
    let null_first = if nulls_last {
        Ordering::Greater
    } else {
        Ordering::Less
    };
    match (x, y) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => null_first,
        (Some(_), None) => null_first.reverse(),
        (Some(x), Some(y)) => {
            let ordering = order(&resolved.field, x, y);
            if descending {
                ordering.reverse()
            } else {
                ordering
            }
        }
    }
}

/// Orders two values of `field`.
fn order(field: &Field, a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .partial_cmp(&b.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::String(a), Value::String(b)) if field.kind == FieldType::Datetime => {
            parse_datetime(a).cmp(&parse_datetime(b))
        }
        // Ids are case-sensitive: they sort as `Id > '...'` compares them.
        (Value::String(a), Value::String(b))
            if matches!(field.kind, FieldType::Id | FieldType::Reference) =>
        {
            a.cmp(b)
        }
        (Value::String(a), Value::String(b)) => a.to_lowercase().cmp(&b.to_lowercase()),
        _ => Ordering::Equal,
    }
}

/// A result record: `attributes`, then the selected fields, parents as
/// nested records (null when the reference is empty).
/// `children` are (position among the selected fields, key, value), placed
/// where their subqueries stood in the SELECT list.
pub(super) fn project(
    org: &Org,
    object: &Object,
    record: &Fields,
    selected: &[Resolved],
    children: Vec<(usize, String, Value)>,
    version: &str,
) -> Value {
    let mut row = Map::new();
    row.insert("attributes".to_owned(), attributes(object, record, version));
    let mut children = children.into_iter().peekable();
    for (index, resolved) in selected.iter().enumerate() {
        while let Some((_, key, value)) = children.next_if(|(position, ..)| *position == index) {
            row.insert(key, value);
        }
        insert_path(
            org,
            &mut row,
            record,
            &resolved.hops,
            &resolved.field,
            version,
        );
    }
    for (_, key, value) in children {
        row.insert(key, value);
    }
    Value::Object(row)
}

fn attributes(object: &Object, record: &Fields, version: &str) -> Value {
    let id = record.get("Id").and_then(Value::as_str).unwrap_or_default();
    json!({ "type": object.name, "url": format!("/services/data/{version}/sobjects/{}/{id}", object.name) })
}

fn insert_path(
    org: &Org,
    row: &mut Map<String, Value>,
    record: &Fields,
    hops: &[Field],
    field: &Field,
    version: &str,
) {
    let Some((hop, rest)) = hops.split_first() else {
        row.insert(
            field.name.clone(),
            record.get(&field.name).cloned().unwrap_or(Value::Null),
        );
        return;
    };
    let name = hop
        .relationship_name
        .clone()
        .unwrap_or_else(|| hop.name.clone());
    let parent = record
        .get(&hop.name)
        .and_then(Value::as_str)
        .and_then(RecordId::parse)
        .and_then(|id| org.record(&id).map(|parent| (id, parent)));
    let Some((id, parent)) = parent else {
        row.entry(name).or_insert(Value::Null);
        return;
    };
    let Some(parent_object) = org.schema().object_by_prefix(id.key_prefix()) else {
        return;
    };
    let nested = row.entry(name).or_insert_with(|| {
        let mut nested = Map::new();
        nested.insert(
            "attributes".to_owned(),
            attributes(parent_object, parent, version),
        );
        Value::Object(nested)
    });
    if let Value::Object(nested) = nested {
        insert_path(org, nested, parent, rest, field, version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_soql_wildcards_without_regard_to_case() {
        assert!(like("Acme Corp", "acme%"));
        assert!(like("Acme Corp", "%CORP"));
        assert!(like("Acme", "Ac_e"));
        assert!(like("Acme", "%"));
        assert!(!like("Acme", "Acm"));
        assert!(!like("Acme Corp", "%Inc%"));
    }
}
