//! What `gust validate` checks of a `builtin:filter` step: its input's
//! shape, at least one condition, and each operator's operand.

use gust_step_inputs::filter::Filter;
use serde_json::Value;

use super::check::{is_reference, read_as};
use crate::workflow::ValidationError;

/// Adds the problems of a `builtin:filter` step's `with` (at `path`) to
/// `errors`.
pub(super) fn check(with: &Value, path: &str, errors: &mut Vec<ValidationError>) {
    let Some(filter) = read_as::<Filter>(with, path, errors) else {
        return;
    };
    let conditions = with.get("conditions");
    if filter.conditions.is_empty() && !conditions.is_some_and(is_reference) {
        errors.push(ValidationError::new(
            format!("{path}.conditions"),
            "give at least one condition",
        ));
    }
    for (index, condition) in filter.conditions.iter().enumerate() {
        let written = conditions.and_then(|conditions| conditions.get(index));
        let to = written.and_then(|written| written.get("to"));
        let at = format!("{path}.conditions[{index}]");
        let op = written
            .and_then(|written| written.get("op"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if condition.op.uses_to() && to.is_none() {
            errors.push(ValidationError::new(
                at,
                format!("`{op}` compares `value` with `to`, which is missing"),
            ));
        } else if condition.op.needs_array()
            && to.is_some_and(|to| !to.is_array() && !is_reference(to))
        {
            errors.push(ValidationError::new(
                format!("{at}.to"),
                format!("`{op}` needs an array in `to`"),
            ));
        }
    }
}
