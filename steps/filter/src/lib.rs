//! # filter: end the run unless conditions hold
//!
//! Like Pipedream's "end workflow" and n8n's Filter node. The input is
//! [`Filter`] (its example and operators are in `gust-step-inputs`). When
//! the conditions hold the step outputs `pass` (or `{"matched": true}`
//! without it) and the run goes on; otherwise it outputs `{"matched":
//! false, "failed": [<indexes>]}` and ends the run successfully.

use std::cmp::Ordering;

pub use gust_step_inputs::filter::{Condition, Filter, MatchMode, Op};

use gust_sdk::{Error, Output, Value, json};

/// Whether `condition` holds; an error when the operands cannot be
/// compared.
pub fn holds(condition: &Condition) -> Result<bool, String> {
    let (value, to) = (&condition.value, &condition.to);
    Ok(match condition.op {
        Op::Equals => value == to,
        Op::NotEquals => value != to,
        Op::GreaterThan => compare(value, to)? == Ordering::Greater,
        Op::GreaterOrEqual => compare(value, to)? != Ordering::Less,
        Op::LessThan => compare(value, to)? == Ordering::Less,
        Op::LessOrEqual => compare(value, to)? != Ordering::Greater,
        Op::Contains => contains(value, to)?,
        Op::NotContains => !contains(value, to)?,
        Op::StartsWith => strings(value, to)?.is_some_and(|(v, t)| v.starts_with(t)),
        Op::EndsWith => strings(value, to)?.is_some_and(|(v, t)| v.ends_with(t)),
        Op::In => members(to)?.contains(value),
        Op::NotIn => !members(to)?.contains(value),
        Op::Exists => !value.is_null(),
        Op::NotExists => value.is_null(),
    })
}

fn compare(value: &Value, to: &Value) -> Result<Ordering, String> {
    match (value, to) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (
                a.as_f64().unwrap_or(f64::NAN),
                b.as_f64().unwrap_or(f64::NAN),
            );
            a.partial_cmp(&b)
                .ok_or_else(|| format!("cannot compare {a} with {b}"))
        }
        (Value::String(a), Value::String(b)) => Ok(a.cmp(b)),
        _ => Err(format!(
            "cannot order {value} and {to}: both must be numbers or both strings"
        )),
    }
}

fn contains(value: &Value, to: &Value) -> Result<bool, String> {
    match (value, to) {
        (Value::String(haystack), Value::String(needle)) => Ok(haystack.contains(needle.as_str())),
        (Value::Array(items), needle) => Ok(items.contains(needle)),
        (Value::Null, _) => Ok(false),
        _ => Err(format!(
            "`contains` needs a string or an array, not {value}"
        )),
    }
}

/// Both strings, or `None` when the value is null (a missing field neither
/// starts nor ends with anything).
fn strings<'a>(value: &'a Value, to: &'a Value) -> Result<Option<(&'a str, &'a str)>, String> {
    match (value, to) {
        (Value::String(a), Value::String(b)) => Ok(Some((a, b))),
        (Value::Null, Value::String(_)) => Ok(None),
        _ => Err(format!(
            "`starts_with` and `ends_with` compare strings, not {value} and {to}"
        )),
    }
}

fn members(to: &Value) -> Result<&Vec<Value>, String> {
    to.as_array()
        .ok_or_else(|| format!("`in` and `not_in` need an array in `to`, not {to}"))
}

/// Evaluates the filter: the run goes on with `pass`, or stops with the
/// indexes of the conditions that failed.
pub fn evaluate(filter: Filter) -> Result<Output, Error> {
    if filter.conditions.is_empty() {
        return Err(Error::non_retryable(
            "`conditions` is empty: give at least one",
        ));
    }
    let mut failed = Vec::new();
    for (index, condition) in filter.conditions.iter().enumerate() {
        let holds = holds(condition)
            .map_err(|e| Error::non_retryable(format!("conditions[{index}]: {e}")))?;
        if !holds {
            failed.push(index);
        }
    }
    let matched = match filter.match_mode {
        MatchMode::All => failed.is_empty(),
        MatchMode::Any => failed.len() < filter.conditions.len(),
    };
    if matched {
        Ok(Output::next(
            filter.pass.unwrap_or_else(|| json!({ "matched": true })),
        ))
    } else {
        Ok(Output::stop(json!({ "matched": false, "failed": failed })))
    }
}

fn run(input: Value) -> Result<Output, Error> {
    let filter: Filter = serde_json::from_value(input)
        .map_err(|e| Error::non_retryable(format!("invalid filter input: {e}")))?;
    let output = evaluate(filter)?;
    if let Output::Stop(stopped) = &output {
        gust_sdk::info!("Filter did not match ({stopped}); ending the run.");
    }
    Ok(output)
}

gust_sdk::step!(run);

#[cfg(test)]
mod tests;
