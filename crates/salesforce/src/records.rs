//! Single records (read, create, update, upsert, delete), describe,
//! limits, composite and the raw request on the instance.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::client::{Body, Call, Client};
use super::{Result, SalesforceError, Upserted};

/// The most subrequests of one `/composite` call.
pub const MAX_COMPOSITE_SUBREQUESTS: usize = 25;

impl Client {
    /// Reads one record; an empty `fields` reads every field.
    pub async fn get(&self, sobject: &str, id: &str, fields: &[String]) -> Result<Value> {
        let mut call = Call::new(Method::GET, self.record_path(sobject, id)?);
        if !fields.is_empty() {
            call = call.query("fields", fields.join(","));
        }
        self.send(&call).await?.json()
    }

    /// Creates a record and returns its Id.
    pub async fn create(&self, sobject: &str, record: &Value) -> Result<String> {
        let path = self.data_path(&format!("/sobjects/{}", segment(sobject)?));
        let call = Call::new(Method::POST, path).body(Body::json(record));
        let answer: Value = self.send(&call).await?.json()?;
        answer["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| SalesforceError::bad_response(201, "the create answer has no id"))
    }

    /// Updates the fields of `record` on the record `id`.
    pub async fn update(&self, sobject: &str, id: &str, record: &Value) -> Result<()> {
        let call =
            Call::new(Method::PATCH, self.record_path(sobject, id)?).body(Body::json(record));
        self.send(&call).await.map(drop)
    }

    /// Creates or updates the record whose `external_id_field` is
    /// `external_id`. Several matches are Salesforce's 300, an error.
    pub async fn upsert(
        &self,
        sobject: &str,
        external_id_field: &str,
        external_id: &str,
        record: &Value,
    ) -> Result<Upserted> {
        let path = self.data_path(&format!(
            "/sobjects/{}/{}/{}",
            segment(sobject)?,
            segment(external_id_field)?,
            encode(external_id)
        ));
        let call = Call::new(Method::PATCH, path.clone()).body(Body::json(record));
        // Several matches are Salesforce's 300, which `send` returns as an
        // error listing their URLs.
        let answer = self.send(&call).await?;
        let body = answer.value();
        let created =
            answer.status == StatusCode::CREATED || body["created"].as_bool().unwrap_or(false);
        // Before API 46.0 an update answers 204 without the Id: ask for it.
        let id = match body["id"].as_str() {
            Some(id) => id.to_owned(),
            None => {
                let read = Call::new(Method::GET, path).query("fields", "Id");
                let record: Value = self.send(&read).await?.json()?;
                record["Id"].as_str().unwrap_or_default().to_owned()
            }
        };
        Ok(Upserted { id, created })
    }

    /// Deletes a record.
    pub async fn delete(&self, sobject: &str, id: &str) -> Result<()> {
        let call = Call::new(Method::DELETE, self.record_path(sobject, id)?);
        self.send(&call).await.map(drop)
    }

    /// Describes an sObject; cached for the connection's life.
    pub async fn describe(&self, sobject: &str) -> Result<Arc<Value>> {
        if let Some(describe) = self.cached_describe(sobject) {
            return Ok(describe);
        }
        let path = self.data_path(&format!("/sobjects/{}/describe", segment(sobject)?));
        let describe = Arc::new(
            self.send(&Call::new(Method::GET, path))
                .await?
                .json::<Value>()?,
        );
        self.cache_describe(sobject, describe.clone());
        Ok(describe)
    }

    /// The org's limits (`/limits`): `{"DailyApiRequests": {"Max", "Remaining"}, ...}`.
    pub async fn limits(&self) -> Result<Value> {
        let call = Call::new(Method::GET, self.data_path("/limits"));
        self.send(&call).await?.json()
    }

    /// Runs up to 25 subrequests in one `/composite` call; later ones can
    /// refer to earlier results as `@{referenceId.field}`. Returns each
    /// subrequest's `{body, httpHeaders, httpStatusCode, referenceId}`.
    pub async fn composite(
        &self,
        all_or_none: bool,
        subrequests: Vec<Value>,
    ) -> Result<Vec<Value>> {
        if subrequests.len() > MAX_COMPOSITE_SUBREQUESTS {
            return Err(SalesforceError::bad_request(format!(
                "a composite call takes at most {MAX_COMPOSITE_SUBREQUESTS} subrequests, not {}",
                subrequests.len()
            )));
        }
        let body = json!({ "allOrNone": all_or_none, "compositeRequest": subrequests });
        let call = Call::new(Method::POST, self.data_path("/composite")).body(Body::json(&body));
        let mut answer: Value = self.send(&call).await?.json()?;
        match answer["compositeResponse"].take() {
            Value::Array(results) => Ok(results),
            _ => Err(SalesforceError::bad_response(
                200,
                "the composite answer has no compositeResponse",
            )),
        }
    }

    /// A raw request on the instance: `path` starts with `/services/` and
    /// may carry a query string. The answer's JSON, `Value::Null` when it
    /// is empty, or its text when it is not JSON.
    pub async fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .ok()
            .filter(|m| {
                [
                    Method::GET,
                    Method::POST,
                    Method::PATCH,
                    Method::PUT,
                    Method::DELETE,
                    Method::HEAD,
                ]
                .contains(m)
            })
            .ok_or_else(|| {
                SalesforceError::bad_request(format!(
                    "`{method}` is not one of GET, POST, PATCH, PUT, DELETE, HEAD"
                ))
            })?;
        if !path.starts_with("/services/") || path.contains("..") || path.contains("://") {
            return Err(SalesforceError::bad_request(format!(
                "`{path}` is not a path on the instance: it must start with /services/"
            )));
        }
        let mut call = Call::new(method, path);
        if let Some(body) = body {
            call = call.body(Body::json(body));
        }
        Ok(self.send(&call).await?.value())
    }

    fn record_path(&self, sobject: &str, id: &str) -> Result<String> {
        Ok(self.data_path(&format!("/sobjects/{}/{}", segment(sobject)?, encode(id))))
    }
}

/// `name` as a path segment: an API name, which needs no encoding.
fn segment(name: &str) -> Result<&str> {
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(name)
    } else {
        Err(SalesforceError::bad_request(format!(
            "`{name}` is not an API name"
        )))
    }
}

/// `value` percent-encoded as one path segment.
fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
