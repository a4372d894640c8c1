//! # salesforce: one Salesforce action, like Pipedream's Salesforce actions
//!
//! `"uses": "builtin:salesforce"`, with the action and its arguments in
//! `with`, and the grants the action needs in `permissions.salesforce`:
//!
//! ```json
//! { "id": "find", "uses": "builtin:salesforce",
//!   "with": { "action": "query", "soql": "SELECT Id, Email FROM Lead WHERE Email = :email",
//!             "params": { "email": "${trigger.body.email}" } },
//!   "permissions": { "salesforce": { "read": ["Lead"] } } }
//! ```
//!
//! | `action` | arguments | output |
//! |---|---|---|
//! | `query` | `soql`, `params` (its `:name`s' values), `include_deleted` (queryAll) | `{"records": [...], "count"}` |
//! | `get` | `sobject`, `id`, `fields` (all when absent) | the record |
//! | `create` | `sobject`, `record` | `{"id"}` |
//! | `update` | `sobject`, `id`, `record` | `{"id"}` |
//! | `upsert` | `sobject`, `external_id_field`, `external_id`, `record` | `{"id", "created"}` |
//! | `delete` | `sobject`, `id` | `{"id", "deleted": true}` |
//! | `write_many` | `operation` (`insert`, `update`, `upsert`, `delete`), `sobject`, `records`, `external_id_field`, `all_or_none`, `fail_on_error` | `{"results": [...], "succeeded", "failed"}` |
//! | `publish` | `event` (an `__e` platform event), `events`, `fail_on_error` | `{"results": [...], "published", "failed"}` |
//! | `describe` | `sobject` | the describe |
//! | `request` | `method`, `path` (`/services/...`), `body` | the answer's JSON |
//!
//! `write_many` sends up to 2,000 records through sObject Collections and
//! more through Bulk API 2.0; its results are in input order, one per
//! record. With `"fail_on_error": true` a record that failed fails the step.
//! A Salesforce error fails the step with its `errorCode`; the step is
//! retried (under the workflow's `retry`) when the host judged the error
//! transient.

pub use gust_step_inputs::salesforce::{
    Action, Create, Delete, Describe, Get, Operation, Publish, Query, Request, Update, Upsert,
    WriteMany,
};

use gust_sdk::salesforce::{self, SalesforceError};
use gust_sdk::{Error, Value, json};

/// A Salesforce error as the step's failure, retried when transient.
fn failed(error: SalesforceError) -> Error {
    let message = error.to_string();
    if error.is_retryable() {
        Error::new(message)
    } else {
        Error::non_retryable(message)
    }
}

/// Runs the action.
pub fn perform(action: Action) -> Result<Value, Error> {
    Ok(match action {
        Action::Query(Query {
            soql,
            params,
            include_deleted,
        }) => {
            let records = if include_deleted {
                salesforce::query_all_with(&soql, &params)
            } else {
                salesforce::query_with(&soql, &params)
            }
            .map_err(failed)?;
            json!({ "count": records.len(), "records": records })
        }
        Action::Get(Get {
            sobject,
            id,
            fields,
        }) => {
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            salesforce::get(&sobject, &id, &fields).map_err(failed)?
        }
        Action::Create(Create { sobject, record }) => {
            json!({ "id": salesforce::create(&sobject, &record).map_err(failed)? })
        }
        Action::Update(Update {
            sobject,
            id,
            record,
        }) => {
            salesforce::update(&sobject, &id, &record).map_err(failed)?;
            json!({ "id": id })
        }
        Action::Upsert(Upsert {
            sobject,
            external_id_field,
            external_id,
            record,
        }) => {
            let upserted = salesforce::upsert(&sobject, &external_id_field, &external_id, &record)
                .map_err(failed)?;
            json!({ "id": upserted.id, "created": upserted.created })
        }
        Action::Delete(Delete { sobject, id }) => {
            salesforce::delete(&sobject, &id).map_err(failed)?;
            json!({ "id": id, "deleted": true })
        }
        Action::WriteMany(WriteMany {
            operation,
            sobject,
            records,
            external_id_field,
            all_or_none,
            fail_on_error,
        }) => write_many(
            operation,
            &sobject,
            &records,
            external_id_field.as_deref(),
            all_or_none,
            fail_on_error,
        )?,
        Action::Publish(Publish {
            event,
            events,
            fail_on_error,
        }) => publish(&event, &events, fail_on_error)?,
        Action::Describe(Describe { sobject }) => salesforce::describe(&sobject).map_err(failed)?,
        Action::Request(Request { method, path, body }) => {
            salesforce::request(&method, &path, body.as_ref()).map_err(failed)?
        }
    })
}

fn write_many(
    operation: Operation,
    sobject: &str,
    records: &[Value],
    external_id_field: Option<&str>,
    all_or_none: bool,
    fail_on_error: bool,
) -> Result<Value, Error> {
    let operation = match (operation, external_id_field) {
        (Operation::Insert, _) => salesforce::WriteMany::Insert,
        (Operation::Update, _) => salesforce::WriteMany::Update,
        (Operation::Delete, _) => salesforce::WriteMany::Delete,
        (Operation::Upsert, Some(field)) => salesforce::WriteMany::Upsert {
            external_id_field: field,
        },
        (Operation::Upsert, None) => {
            return Err(Error::non_retryable(
                "`operation: upsert` needs `external_id_field`",
            ));
        }
    };
    let results =
        salesforce::write_many(operation, sobject, records, all_or_none).map_err(failed)?;
    let failed = failures(&results, fail_on_error, ("records", "failed"))?;
    Ok(json!({
        "succeeded": results.len() - failed,
        "failed": failed,
        "results": results,
    }))
}

/// How many of `results` (one per record or event) failed; with
/// `fail_on_error`, any failure fails the step, naming the first. `what`
/// names the items and what befell them: `("records", "failed")`.
fn failures(results: &[Value], fail_on_error: bool, what: (&str, &str)) -> Result<usize, Error> {
    let failures: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, result)| result["success"] != true)
        .map(|(index, _)| index)
        .collect();
    if fail_on_error && let Some(&first) = failures.first() {
        let error = &results[first]["errors"][0];
        let (items, befell) = what;
        return Err(Error::non_retryable(format!(
            "{} of {} {items} {befell}; the first, {items}[{first}]: {}: {}",
            failures.len(),
            results.len(),
            error["statusCode"].as_str().unwrap_or("?"),
            error["message"].as_str().unwrap_or_default()
        )));
    }
    Ok(failures.len())
}

fn publish(event: &str, events: &[Value], fail_on_error: bool) -> Result<Value, Error> {
    let results = salesforce::publish(event, events).map_err(failed)?;
    let failed = failures(&results, fail_on_error, ("events", "failed to publish"))?;
    Ok(json!({
        "published": results.len() - failed,
        "failed": failed,
        "results": results,
    }))
}

fn run(input: Value) -> Result<Value, Error> {
    let action: Action = serde_json::from_value(input).map_err(|e| {
        Error::non_retryable(format!(
            "invalid salesforce step input: {e} (actions: {})",
            gust_step_inputs::salesforce::ACTIONS.join(", ")
        ))
    })?;
    perform(action)
}

gust_sdk::step!(run);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: Value) -> Result<Action, String> {
        serde_json::from_value(input).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_each_action_with_its_defaults() {
        assert_eq!(
            parse(json!({ "action": "query", "soql": "SELECT Id FROM Lead" })),
            Ok(Action::Query(Query {
                soql: "SELECT Id FROM Lead".into(),
                params: Value::Null,
                include_deleted: false
            }))
        );
        assert_eq!(
            parse(
                json!({ "action": "write_many", "operation": "upsert", "sobject": "Lead",
                          "records": [{}], "external_id_field": "Email" })
            ),
            Ok(Action::WriteMany(WriteMany {
                operation: Operation::Upsert,
                sobject: "Lead".into(),
                records: vec![json!({})],
                external_id_field: Some("Email".into()),
                all_or_none: false,
                fail_on_error: false,
            }))
        );
    }

    #[test]
    fn refuses_unknown_actions_and_arguments() {
        assert!(
            parse(json!({ "action": "merge" }))
                .unwrap_err()
                .contains("merge")
        );
        let typo = parse(json!({ "action": "get", "sobject": "Lead", "id": "x", "feilds": [] }));
        assert!(typo.unwrap_err().contains("feilds"));
        assert!(
            parse(json!({ "action": "create", "sobject": "Lead" }))
                .unwrap_err()
                .contains("record")
        );
    }
}
