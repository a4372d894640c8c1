//! What `gust validate` checks of a `builtin:salesforce` step: its action,
//! the action's arguments, the grants the action needs, and its SOQL.

use gust_step_inputs::salesforce::{
    ACTIONS, Create, Delete, Describe, Get, Operation, Publish, Query, Request, Update, Upsert,
    WriteMany,
};
use serde_json::Value;

use super::check::{is_reference, read_as};
use crate::salesforce::soql::QueryShape;
use crate::workflow::{Access, Step, ValidationError};

/// Adds the problems of a `builtin:salesforce` step (at `step_path`) to
/// `errors`: of its `with`, and of its permissions for the action.
pub(super) fn check(step: &Step, step_path: &str, errors: &mut Vec<ValidationError>) {
    let Some(with) = &step.with else { return };
    let path = &format!("{step_path}.with");
    let permissions = &format!("{step_path}.permissions");
    let Some(action) = with.get("action") else {
        errors.push(ValidationError::new(
            path,
            format!("`action` is required: one of {}", ACTIONS.join(", ")),
        ));
        return;
    };
    if is_reference(action) {
        return;
    }
    let Some(action) = action.as_str().filter(|action| ACTIONS.contains(action)) else {
        errors.push(ValidationError::new(
            format!("{path}.action"),
            format!(
                "unknown action {action}; the actions are {}",
                ACTIONS.join(", ")
            ),
        ));
        return;
    };
    let mut args = with.clone();
    if let Some(args) = args.as_object_mut() {
        args.remove("action");
    }
    let needs = match action {
        "query" => read_as::<Query>(&args, path, errors).map(|query| {
            check_query(step, &query, with, (path, permissions), errors);
            Needs::Nothing
        }),
        "get" => {
            read_as::<Get>(&args, path, errors).map(|get| Needs::On(Access::Read, get.sobject))
        }
        "describe" => read_as::<Describe>(&args, path, errors)
            .map(|describe| Needs::On(Access::Read, describe.sobject)),
        "create" => read_as::<Create>(&args, path, errors)
            .map(|create| Needs::On(Access::Write, create.sobject)),
        "update" => read_as::<Update>(&args, path, errors)
            .map(|update| Needs::On(Access::Write, update.sobject)),
        "upsert" => read_as::<Upsert>(&args, path, errors)
            .map(|upsert| Needs::On(Access::Write, upsert.sobject)),
        "delete" => read_as::<Delete>(&args, path, errors)
            .map(|delete| Needs::On(Access::Delete, delete.sobject)),
        "write_many" => read_as::<WriteMany>(&args, path, errors).map(|many| {
            if many.operation == Operation::Upsert && many.external_id_field.is_none() {
                errors.push(ValidationError::new(
                    path,
                    "`operation: upsert` needs `external_id_field`",
                ));
            }
            let access = match many.operation {
                Operation::Delete => Access::Delete,
                Operation::Insert | Operation::Update | Operation::Upsert => Access::Write,
            };
            Needs::On(access, many.sobject)
        }),
        "publish" => read_as::<Publish>(&args, path, errors).map(|publish| {
            if !publish.event.contains("${") && !publish.event.ends_with("__e") {
                errors.push(ValidationError::new(
                    format!("{path}.event"),
                    format!(
                        "`{}` is not a platform event: their API names end in __e",
                        publish.event
                    ),
                ));
            }
            Needs::On(Access::Write, publish.event)
        }),
        _ => read_as::<Request>(&args, path, errors).map(|_| Needs::Request),
    };
    let Some(needs) = needs else { return };
    let granted = &step.permissions.salesforce;
    let missing = match needs {
        Needs::On(access, sobject)
            if !sobject.contains("${") && !granted.allows(access, &sobject) =>
        {
            Some(format!(
                "the action `{action}` needs {access} access to `{sobject}`; add \"{sobject}\" to \
                 `permissions.salesforce.{access}`"
            ))
        }
        Needs::Request if !granted.request => Some(
            "the action `request` needs `\"request\": true` in `permissions.salesforce`".to_owned(),
        ),
        _ => None,
    };
    if let Some(message) = missing {
        errors.push(ValidationError::new(permissions, message));
    }
}

/// What an action needs granted.
enum Needs {
    /// Nothing more than the query's own objects, checked there.
    Nothing,
    /// This access to this object.
    On(Access, String),
    /// Raw requests.
    Request,
}

/// A query's SOQL: no pasted references, its parameters all bound and all
/// used, and read access to the objects it names in `FROM`; problems at
/// the step's `with` and `permissions` paths.
fn check_query(
    step: &Step,
    query: &Query,
    with: &Value,
    (path, permissions): (&str, &str),
    errors: &mut Vec<ValidationError>,
) {
    if query.soql.contains("${") {
        errors.push(ValidationError::new(
            format!("{path}.soql"),
            "a `${...}` inside `soql` is pasted into the query as text, open to SOQL \
             injection (`O'Reilly` breaks the query, `x' OR Name != 'y` widens it); name a \
             parameter in the query, `WHERE Email = :email`, and give its value in `params`: \
             `{\"email\": \"${trigger.body.email}\"}`",
        ));
        return;
    }
    // The names, with each value standing in as null: a literal of any type.
    let params = match with.get("params") {
        Some(Value::Object(params)) => Value::Object(
            params
                .keys()
                .map(|name| (name.clone(), Value::Null))
                .collect(),
        ),
        Some(other) if is_reference(other) => return,
        _ => Value::Null,
    };
    if let Err(error) = gust_soql::bind(&query.soql, &params) {
        errors.push(ValidationError::new(
            format!("{path}.params"),
            error.to_string(),
        ));
    }
    // What the query names outright; objects reached through relationships
    // need a describe, which the host checks on every call.
    let Ok(shape) = QueryShape::parse(&query.soql) else {
        return;
    };
    let granted = &step.permissions.salesforce;
    for scope in shape.scopes.iter().filter(|scope| scope.parent.is_none()) {
        if !granted.allows(Access::Read, &scope.from) {
            errors.push(ValidationError::new(
                permissions,
                format!(
                    "the query reads `{0}`; add \"{0}\" to `permissions.salesforce.read`",
                    scope.from
                ),
            ));
        }
    }
}
