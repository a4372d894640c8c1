//! Writes of many records: sObject Collections, 200 records a call, with
//! one result per record in input order; above the connection's threshold,
//! Bulk API 2.0.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::bulk::{BulkJobs, Untracked};
use super::client::{Body, Call, Client};
use super::{Result, SalesforceError, WriteOperation, WriteOptions};

/// The most records of one sObject Collections call.
pub const COLLECTION_SIZE: usize = 200;

impl Client {
    /// Writes `records`: one result per record, in input order, each
    /// `{"id", "success", "created", "errors": [{"statusCode", "message",
    /// "fields"}]}`. Deletes take Ids (or records with an `Id`). Up to the
    /// connection's bulk threshold the records go through sObject
    /// Collections, above it through Bulk API 2.0, which has no
    /// all-or-none: `all_or_none` covers at most 200 records.
    pub async fn write_many(
        &self,
        operation: WriteOperation,
        sobject: &str,
        records: Vec<Value>,
        options: &WriteOptions,
    ) -> Result<Vec<Value>> {
        self.write_many_tracked(operation, sobject, records, options, &Untracked)
            .await
    }

    /// [`Client::write_many`], telling `jobs` of the Bulk API 2.0 job it
    /// opens and following the one `jobs` says an earlier execution opened.
    pub async fn write_many_tracked(
        &self,
        operation: WriteOperation,
        sobject: &str,
        records: Vec<Value>,
        options: &WriteOptions,
        jobs: &dyn BulkJobs,
    ) -> Result<Vec<Value>> {
        if operation == WriteOperation::Upsert && options.external_id_field.is_none() {
            return Err(SalesforceError::bad_request(
                "an upsert needs options.external_id_field",
            ));
        }
        if options.all_or_none && records.len() > COLLECTION_SIZE {
            return Err(SalesforceError::bad_request(format!(
                "all_or_none covers one sObject Collections call, at most {COLLECTION_SIZE} records, not {}: split the records or drop all_or_none",
                records.len()
            )));
        }
        if records.len() > self.connection().bulk_threshold {
            return self
                .bulk_write(operation, sobject, records, options, jobs)
                .await;
        }
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(COLLECTION_SIZE) {
            let call = self.collection_call(operation, sobject, chunk, options)?;
            let answer: Vec<Value> = self.send(&call).await?.json()?;
            if answer.len() != chunk.len() {
                return Err(SalesforceError::bad_response(
                    200,
                    format!(
                        "sObject Collections answered {} results for {} records",
                        answer.len(),
                        chunk.len()
                    ),
                ));
            }
            results.extend(
                answer
                    .into_iter()
                    .map(|result| save_result(operation, result)),
            );
        }
        Ok(results)
    }

    fn collection_call(
        &self,
        operation: WriteOperation,
        sobject: &str,
        chunk: &[Value],
        options: &WriteOptions,
    ) -> Result<Call> {
        if operation == WriteOperation::Delete {
            let ids = chunk.iter().map(record_id).collect::<Result<Vec<_>>>()?;
            return Ok(
                Call::new(Method::DELETE, self.data_path("/composite/sobjects"))
                    .query("ids", ids.join(","))
                    .query("allOrNone", options.all_or_none.to_string()),
            );
        }
        let records = chunk
            .iter()
            .map(|record| typed(sobject, record))
            .collect::<Result<Vec<_>>>()?;
        let body = Body::json(&json!({ "allOrNone": options.all_or_none, "records": records }));
        let call = match operation {
            WriteOperation::Insert => {
                Call::new(Method::POST, self.data_path("/composite/sobjects"))
            }
            WriteOperation::Update => {
                Call::new(Method::PATCH, self.data_path("/composite/sobjects"))
            }
            WriteOperation::Upsert => {
                let field = options.external_id_field.as_deref().unwrap_or_default();
                Call::new(
                    Method::PATCH,
                    self.data_path(&format!("/composite/sobjects/{sobject}/{field}")),
                )
            }
            WriteOperation::Delete => unreachable!("deletes returned above"),
        };
        Ok(call.body(body))
    }
}

/// The Id of a record to delete: the string itself or its `Id`.
fn record_id(record: &Value) -> Result<String> {
    record
        .as_str()
        .or_else(|| record["Id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            SalesforceError::bad_request(format!(
                "a record to delete is an Id or an object with an Id, not {record}"
            ))
        })
}

/// `record` with `attributes.type`, as sObject Collections wants it.
fn typed(sobject: &str, record: &Value) -> Result<Value> {
    let Value::Object(fields) = record else {
        return Err(SalesforceError::bad_request(format!(
            "a record is a JSON object, not {record}"
        )));
    };
    let mut typed = Map::with_capacity(fields.len() + 1);
    typed.insert("attributes".to_owned(), json!({ "type": sobject }));
    for (name, value) in fields {
        if name != "attributes" {
            typed.insert(name.clone(), value.clone());
        }
    }
    Ok(Value::Object(typed))
}

/// A SaveResult in the shape every write result has.
fn save_result(operation: WriteOperation, result: Value) -> Value {
    let success = result["success"].as_bool().unwrap_or(false);
    let created = match operation {
        WriteOperation::Insert => success,
        WriteOperation::Upsert => result["created"].as_bool().unwrap_or(false),
        WriteOperation::Update | WriteOperation::Delete => false,
    };
    json!({
        "id": result["id"],
        "success": success,
        "created": created,
        "errors": result.get("errors").cloned().unwrap_or_else(|| json!([])),
    })
}
