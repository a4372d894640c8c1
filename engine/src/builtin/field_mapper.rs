//! What `gust validate` checks of a `builtin:field-mapper` step: its
//! input's shape and, when written out, the mapping itself.

use gust_step_inputs::field_mapper::Mapping;
use serde_json::Value;

use super::check::read_as;
use crate::workflow::ValidationError;

/// Adds the problems of a `builtin:field-mapper` step's `with` (at `path`)
/// to `errors`.
pub(super) fn check(with: &Value, path: &str, errors: &mut Vec<ValidationError>) {
    let Some(mapping) = read_as::<Mapping>(with, path, errors) else {
        return;
    };
    // A mapping that comes from references is known only at run time.
    let written_out = ["relation", "id_field", "properties"].iter().all(|key| {
        with.get(key)
            .is_some_and(|value| !value.to_string().contains("${"))
    });
    if written_out {
        for problem in mapping.problems() {
            errors.push(ValidationError::new(path, problem));
        }
    }
}
