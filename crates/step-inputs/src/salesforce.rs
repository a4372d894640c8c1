//! The input of `builtin:salesforce`: one action and its arguments.
//!
//! ```json
//! { "action": "query", "soql": "SELECT Id FROM Lead WHERE Email = :email",
//!   "params": { "email": "${trigger.body.email}" } }
//! ```
//!
//! Each action's arguments are a struct of their own, so that a check of a
//! workflow can read them (and point at the argument that is wrong) once it
//! knows the action.

use serde::Deserialize;
use serde_json::Value;

/// The step's input: the action and its arguments.
#[derive(Debug, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A SOQL query, every page.
    Query(Query),
    /// Read one record.
    Get(Get),
    /// Create one record.
    Create(Create),
    /// Update one record.
    Update(Update),
    /// Create or update one record by an external id.
    Upsert(Upsert),
    /// Delete one record.
    Delete(Delete),
    /// Write many records: sObject Collections or Bulk API 2.0.
    WriteMany(WriteMany),
    /// Publish platform events.
    Publish(Publish),
    /// Describe an object.
    Describe(Describe),
    /// A raw REST request on the instance.
    Request(Request),
}

/// The names of the actions, as `action` takes them.
pub const ACTIONS: [&str; 10] = [
    "query",
    "get",
    "create",
    "update",
    "upsert",
    "delete",
    "write_many",
    "publish",
    "describe",
    "request",
];

/// `query`: a SOQL query, every page.
#[derive(Debug, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// The query, naming its parameters `:name`.
    pub soql: String,
    /// The parameters' values, each written as the SOQL literal of its
    /// type: `{"email": "${trigger.body.email}"}`.
    #[serde(default)]
    pub params: Value,
    /// Include deleted and archived records (queryAll).
    #[serde(default)]
    pub include_deleted: bool,
}

/// `get`: one record.
#[derive(Debug, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Get {
    /// The object.
    pub sobject: String,
    /// The record's Id.
    pub id: String,
    /// The fields to read; every field when empty.
    #[serde(default)]
    pub fields: Vec<String>,
}

/// `create`: one record.
#[derive(Debug, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Create {
    /// The object.
    pub sobject: String,
    /// The fields.
    pub record: Value,
}

/// `update`: one record's fields.
#[derive(Debug, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Update {
    /// The object.
    pub sobject: String,
    /// The record's Id.
    pub id: String,
    /// The fields to change.
    pub record: Value,
}

/// `upsert`: one record by an external id.
#[derive(Debug, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Upsert {
    /// The object.
    pub sobject: String,
    /// The external id field.
    pub external_id_field: String,
    /// Its value.
    pub external_id: String,
    /// The fields.
    pub record: Value,
}

/// `delete`: one record.
#[derive(Debug, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Delete {
    /// The object.
    pub sobject: String,
    /// The record's Id.
    pub id: String,
}

/// `write_many`: many records, through sObject Collections or Bulk API 2.0.
#[derive(Debug, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct WriteMany {
    /// What to do with each record.
    pub operation: Operation,
    /// The object.
    pub sobject: String,
    /// The records (Ids, or records with an `Id`, to delete).
    pub records: Vec<Value>,
    /// The external id field, for `upsert`.
    #[serde(default)]
    pub external_id_field: Option<String>,
    /// Roll every record back when one fails (200 records at most).
    #[serde(default)]
    pub all_or_none: bool,
    /// Fail the step when a record failed.
    #[serde(default)]
    pub fail_on_error: bool,
}

/// `publish`: platform events of one `__e` object.
#[derive(Debug, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Publish {
    /// The platform event (`Order_Placed__e`).
    pub event: String,
    /// The events, each an object of its fields.
    pub events: Vec<Value>,
    /// Fail the step when an event failed to publish.
    #[serde(default)]
    pub fail_on_error: bool,
}

/// The operation of `write_many`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Create.
    Insert,
    /// Update by Id.
    Update,
    /// Create or update by external id.
    Upsert,
    /// Delete by Id.
    Delete,
}

/// `describe`: an object's fields and relationships.
#[derive(Debug, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Describe {
    /// The object.
    pub sobject: String,
}

/// `request`: a raw REST request on the instance.
#[derive(Debug, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// GET, POST, PATCH, PUT, DELETE or HEAD.
    pub method: String,
    /// A path starting with `/services/`.
    pub path: String,
    /// A JSON body.
    #[serde(default)]
    pub body: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_names_are_the_variants_serde_knows() {
        let error = serde_json::from_value::<Action>(serde_json::json!({ "action": "nope" }))
            .unwrap_err()
            .to_string();
        let expected = ACTIONS.map(|name| format!("`{name}`")).join(", ");
        assert!(
            error.contains(&format!("expected one of {expected}")),
            "{error}"
        );
    }

    #[test]
    fn a_query_reads_its_parameters() {
        let action: Action = serde_json::from_value(serde_json::json!({
            "action": "query",
            "soql": "SELECT Id FROM Lead WHERE Email = :email",
            "params": { "email": "o'reilly@example.com" }
        }))
        .unwrap();
        let Action::Query(query) = action else {
            panic!("not a query: {action:?}")
        };
        assert_eq!(query.params["email"], "o'reilly@example.com");
        assert!(!query.include_deleted);
    }
}
