//! sObject Collections (many records of any objects in one call, 200 at
//! most) and `/composite` (up to 25 subrequests, later ones referring to
//! earlier results with `@{referenceId.field}`), each optionally all or
//! none.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::{AppState, json_body, version};
use crate::error::ApiError;
use crate::ids::RecordId;
use crate::org::{ExternalIdError, Fields, Org, Upserted};
use crate::server::Shared;

/// The most records in one collection call.
const MAX_RECORDS: usize = 200;
/// The most subrequests in one composite call.
const MAX_SUBREQUESTS: usize = 25;

/// A collection request body.
struct Collection {
    all_or_none: bool,
    records: Vec<Fields>,
}

fn collection(body: &Bytes) -> Result<Collection, ApiError> {
    let body = json_body(body)?;
    let all_or_none = body
        .get("allOrNone")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let records = match body.get("records") {
        Some(Value::Array(records)) => records
            .iter()
            .map(|record| record.as_object().cloned().ok_or_else(not_a_record))
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(ApiError::bad_request(
                "INVALID_FIELD",
                "records: the list of records is missing",
            ));
        }
    };
    if records.len() > MAX_RECORDS {
        return Err(too_many_records());
    }
    Ok(Collection {
        all_or_none,
        records,
    })
}

fn not_a_record() -> ApiError {
    ApiError::bad_request(
        "JSON_PARSER_ERROR",
        "Cannot deserialize instance of sObject from a value that is not an object",
    )
}

fn too_many_records() -> ApiError {
    ApiError::bad_request(
        "EXCEEDED_ID_LIMIT",
        format!(
            "record limit reached. cannot submit more than {MAX_RECORDS} records into this call"
        ),
    )
}

/// The object a record names in `attributes.type`.
fn record_type(record: &Fields) -> Result<String, ApiError> {
    record
        .get("attributes")
        .and_then(|attributes| attributes.get("type"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("INVALID_TYPE", "Must send a concrete entity type."))
}

/// Applies `operation` to every record; with all-or-none, one failure
/// undoes them all and marks the others rolled back. Answers 200 with one
/// save result per record, in order.
fn save_all(
    shared: &Shared,
    all_or_none: bool,
    count: usize,
    mut operation: impl FnMut(&mut Org, usize) -> Result<Value, ApiError>,
) -> Response {
    let mut org = shared.org();
    let before = all_or_none.then(|| org.clone());
    let mut results: Vec<Result<Value, ApiError>> =
        (0..count).map(|index| operation(&mut org, index)).collect();
    if let Some(before) = before
        && results.iter().any(Result::is_err)
    {
        *org = before;
        for result in &mut results {
            if result.is_ok() {
                *result = Err(ApiError::bad_request(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request was using AllOrNone header",
                ));
            }
        }
    }
    let body: Vec<Value> = results
        .into_iter()
        .map(|result| match result {
            Ok(saved) => saved,
            Err(error) => json!({ "success": false, "errors": [error.to_save_error()] }),
        })
        .collect();
    axum::Json(body).into_response()
}

fn saved(id: &RecordId) -> Value {
    json!({ "id": id.to_string(), "success": true, "errors": [] })
}

/// Runs `operation` on each record of a collection call's body.
fn each_record(
    shared: &Shared,
    version_text: &str,
    body: &Bytes,
    mut operation: impl FnMut(&mut Org, &Fields, &str) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    let version = version(version_text)?;
    let Collection {
        all_or_none,
        records,
    } = collection(body)?;
    Ok(save_all(
        shared,
        all_or_none,
        records.len(),
        |org, index| operation(org, &records[index], version),
    ))
}

/// `POST /composite/sobjects`: creates.
pub(super) async fn create(
    State(shared): AppState,
    Path(version_text): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    each_record(&shared, &version_text, &body, |org, record, _| {
        let id = org.create(&record_type(record)?, record)?;
        Ok(saved(&id))
    })
}

/// `PATCH /composite/sobjects`: updates, each record naming its `id`.
pub(super) async fn update(
    State(shared): AppState,
    Path(version_text): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    each_record(&shared, &version_text, &body, |org, record, _| {
        let object = record_type(record)?;
        let id_text = record
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("id"))
            .and_then(|(_, id)| id.as_str())
            .ok_or_else(|| {
                ApiError::bad_request("MISSING_ARGUMENT", "Id not specified in an update call")
            })?;
        let id = RecordId::parse(id_text).ok_or_else(|| {
            ApiError::bad_request(
                "MALFORMED_ID",
                format!("Record ID: id value of incorrect type: {id_text}"),
            )
        })?;
        org.update(&object, &id, record)?;
        Ok(saved(&id))
    })
}

/// `PATCH /composite/sobjects/{object}/{field}`: upserts on an external id.
pub(super) async fn upsert(
    State(shared): AppState,
    Path((version_text, object, field)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    each_record(&shared, &version_text, &body, |org, record, version| {
        let key = record
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&field))
            .map(|(_, value)| match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .ok_or_else(|| {
                ApiError::bad_request("MISSING_ARGUMENT", format!("{field} not specified"))
            })?;
        let upserted = org
            .upsert(&object, &field, &key, record, version)
            .map_err(|error| match error {
                ExternalIdError::Api(error) => error,
                ExternalIdError::Multiple(_) => ApiError::bad_request(
                    "DUPLICATE_EXTERNAL_ID",
                    format!("{field}: more than one record found for external id field: [{key}]"),
                ),
            })?;
        let (id, created) = match upserted {
            Upserted::Created(id) => (id, true),
            Upserted::Updated(id) => (id, false),
        };
        Ok(json!({ "id": id.to_string(), "success": true, "errors": [], "created": created }))
    })
}

#[derive(Deserialize)]
pub(super) struct DeleteParams {
    ids: Option<String>,
    #[serde(rename = "allOrNone")]
    all_or_none: Option<bool>,
}

/// `DELETE /composite/sobjects?ids=...&allOrNone=...`.
pub(super) async fn delete(
    State(shared): AppState,
    Path(version_text): Path<String>,
    Query(params): Query<DeleteParams>,
) -> Result<Response, ApiError> {
    version(&version_text)?;
    let ids: Vec<String> = params
        .ids
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "MISSING_ARGUMENT",
            "ids not specified",
        ));
    }
    if ids.len() > MAX_RECORDS {
        return Err(too_many_records());
    }
    Ok(save_all(
        &shared,
        params.all_or_none.unwrap_or(false),
        ids.len(),
        |org, index| {
            let text = &ids[index];
            let id = RecordId::parse(text).ok_or_else(|| {
                ApiError::bad_request("MALFORMED_ID", format!("malformed id {text}"))
            })?;
            let object = org
                .schema()
                .object_by_prefix(id.key_prefix())
                .map(|object| object.name.clone())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                    )
                })?;
            org.delete(&object, &id)?;
            Ok(saved(&id))
        },
    ))
}

/// One subrequest of `/composite`.
#[derive(Deserialize)]
struct Subrequest {
    method: String,
    url: String,
    #[serde(rename = "referenceId")]
    reference_id: String,
    body: Option<Value>,
    #[serde(rename = "httpHeaders", default)]
    http_headers: Map<String, Value>,
}

#[derive(Deserialize)]
struct CompositeRequest {
    #[serde(rename = "allOrNone", default)]
    all_or_none: bool,
    #[serde(rename = "compositeRequest")]
    requests: Vec<Subrequest>,
}

/// A subrequest's outcome.
struct Outcome {
    reference_id: String,
    status: StatusCode,
    headers: Map<String, Value>,
    body: Value,
}

impl Outcome {
    fn to_json(&self) -> Value {
        json!({
            "body": self.body,
            "httpHeaders": self.headers,
            "httpStatusCode": self.status.as_u16(),
            "referenceId": self.reference_id,
        })
    }
}

/// `POST /composite`. Subrequests run in order through the same routes,
/// on the caller's session, counted as one API request. With all-or-none,
/// the first failure undoes every write of the call (and any write another
/// client made meanwhile: the emulator has no finer transactions).
pub(super) async fn composite(
    State(shared): AppState,
    Path(version_text): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    version(&version_text)?;
    let request: CompositeRequest = serde_json::from_slice(&body)
        .map_err(|error| ApiError::bad_request("JSON_PARSER_ERROR", error.to_string()))?;
    if request.requests.len() > MAX_SUBREQUESTS {
        return Err(ApiError::bad_request(
            "LIMIT_EXCEEDED",
            format!("Composite request has more than the maximum of {MAX_SUBREQUESTS} subrequests"),
        ));
    }
    let before = request.all_or_none.then(|| shared.org().clone());
    let mut outcomes: Vec<Outcome> = Vec::new();
    for subrequest in &request.requests {
        let outcome = match resolve_references(subrequest, &outcomes) {
            Ok((url, body)) => run_subrequest(&shared, subrequest, &url, body).await,
            Err(error) => failed(&subrequest.reference_id, &error),
        };
        let stop = request.all_or_none && outcome.status.as_u16() >= 400;
        outcomes.push(outcome);
        if stop {
            break;
        }
    }
    if let Some(before) = before
        && outcomes
            .iter()
            .any(|outcome| outcome.status.as_u16() >= 400)
    {
        *shared.org() = before;
        let halted = ApiError::bad_request(
            "PROCESSING_HALTED",
            "The transaction was rolled back since another operation in the same transaction failed.",
        );
        let ran = outcomes.len();
        for outcome in &mut outcomes {
            if outcome.status.as_u16() < 400 {
                *outcome = failed(&outcome.reference_id, &halted);
            }
        }
        for subrequest in &request.requests[ran..] {
            outcomes.push(failed(&subrequest.reference_id, &halted));
        }
    }
    let responses: Vec<Value> = outcomes.iter().map(Outcome::to_json).collect();
    Ok(axum::Json(json!({ "compositeResponse": responses })).into_response())
}

fn failed(reference_id: &str, error: &ApiError) -> Outcome {
    let mut entry = error.to_json();
    if error.code == "PROCESSING_HALTED" {
        entry.as_object_mut().map(|entry| entry.remove("fields"));
    }
    Outcome {
        reference_id: reference_id.to_owned(),
        status: StatusCode::BAD_REQUEST,
        headers: Map::new(),
        body: json!([entry]),
    }
}

/// The subrequest's URL and body with every `@{referenceId.path}` replaced
/// by that value of an earlier result.
fn resolve_references(
    subrequest: &Subrequest,
    earlier: &[Outcome],
) -> Result<(String, Option<Value>), ApiError> {
    let url = substitute(&subrequest.url, earlier)?;
    let body = subrequest
        .body
        .clone()
        .map(|body| substitute_value(body, earlier))
        .transpose()?;
    Ok((url, body))
}

fn substitute_value(value: Value, earlier: &[Outcome]) -> Result<Value, ApiError> {
    Ok(match value {
        Value::String(text) => Value::String(substitute(&text, earlier)?),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| substitute_value(item, earlier))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, value)| substitute_value(value, earlier).map(|value| (key, value)))
                .collect::<Result<_, _>>()?,
        ),
        other => other,
    })
}

fn substitute(text: &str, earlier: &[Outcome]) -> Result<String, ApiError> {
    let mut result = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("@{") {
        let Some(length) = rest[start..].find('}') else {
            break;
        };
        result.push_str(&rest[..start]);
        let reference = &rest[start + 2..start + length];
        result.push_str(&lookup(reference, earlier)?);
        rest = &rest[start + length + 1..];
    }
    result.push_str(rest);
    Ok(result)
}

/// `refAccount.id` or `refQuery.records[0].Id` in the earlier results.
fn lookup(reference: &str, earlier: &[Outcome]) -> Result<String, ApiError> {
    let (reference_id, path) = reference.split_once('.').unwrap_or((reference, ""));
    let invalid = || {
        ApiError::bad_request(
            "PROCESSING_HALTED",
            format!(
                "Invalid reference specified. No value for {reference} found in {reference_id}. Provided referenceId ('{reference_id}') must start with a letter or a number, and it can contain only letters, numbers and underscores ('_')."
            ),
        )
    };
    let outcome = earlier
        .iter()
        .find(|outcome| outcome.reference_id == reference_id && outcome.status.is_success())
        .ok_or_else(invalid)?;
    let mut value = &outcome.body;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, index) = match segment.split_once('[') {
            Some((name, index)) => (name, index.trim_end_matches(']').parse::<usize>().ok()),
            None => (segment, None),
        };
        value = value.get(name).ok_or_else(invalid)?;
        if let Some(index) = index {
            value = value.get(index).ok_or_else(invalid)?;
        }
    }
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Null => Err(invalid()),
        other => Ok(other.to_string()),
    }
}

/// Runs a subrequest through the API's routes (the call's session was
/// checked, and it counts once).
async fn run_subrequest(
    shared: &Arc<Shared>,
    subrequest: &Subrequest,
    url: &str,
    body: Option<Value>,
) -> Outcome {
    let method = Method::from_bytes(subrequest.method.to_ascii_uppercase().as_bytes())
        .unwrap_or(Method::GET);
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in &subrequest.http_headers {
        if let Some(value) = value.as_str() {
            request = request.header(name.as_str(), value);
        }
    }
    let body = match body {
        Some(body) => Body::from(body.to_string()),
        None => Body::empty(),
    };
    let request = match request
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
    {
        Ok(request) => request,
        Err(error) => {
            return failed(
                &subrequest.reference_id,
                &ApiError::bad_request(
                    "INVALID_INPUT",
                    format!("the subrequest is not valid: {error}"),
                ),
            );
        }
    };
    let routes = super::routes().with_state(shared.clone());
    let request = crate::server::without_trailing_slash(request);
    let response = match routes.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    let mut headers = Map::new();
    if status == StatusCode::CREATED
        && let Some(location) = location(url)
    {
        headers.insert("Location".to_owned(), json!(location));
    }
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let mut body = body;
    if !status.is_success()
        && let Value::Array(errors) = &mut body
    {
        // Inside a composite response an error lists its fields, if none.
        for error in errors.iter_mut().filter_map(Value::as_object_mut) {
            error.entry("fields").or_insert_with(|| json!([]));
        }
    }
    let mut outcome = Outcome {
        reference_id: subrequest.reference_id.clone(),
        status,
        headers,
        body,
    };
    if let Some(id) = outcome
        .body
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        && let Some(Value::String(location)) = outcome.headers.get_mut("Location")
    {
        location.push('/');
        location.push_str(&id);
    }
    outcome
}

/// Where a record created at `url` lives (`.../sobjects/Account` then its id).
fn location(url: &str) -> Option<String> {
    let path = url.split('?').next()?;
    path.contains("/sobjects/")
        .then(|| path.trim_end_matches('/').to_owned())
}
