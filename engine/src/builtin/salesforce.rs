//! What `gust validate` checks of a `builtin:salesforce` step's `with`.

use serde_json::Value;

use crate::workflow::ValidationError;

/// Adds the problems of the `with` of a `builtin:salesforce` step, at
/// `path`, to `errors`.
pub fn check(with: &Value, path: &str, errors: &mut Vec<ValidationError>) {
    if let Some(soql) = with.get("soql").and_then(Value::as_str)
        && soql.contains("${")
    {
        errors.push(ValidationError::new(
            format!("{path}.soql"),
            "a `${...}` inside `soql` is pasted into the query as text, open to SOQL \
             injection (`O'Reilly` breaks the query, `x' OR Name != 'y` widens it); name a \
             parameter in the query, `WHERE Email = :email`, and give its value in `params`: \
             `{\"email\": \"${trigger.body.email}\"}`",
        ));
    }
}
