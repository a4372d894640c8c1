//! The REST API under `/services/data/vXX.X/`: versions, resources,
//! limits, describe, sObject rows (create, read, update, upsert, delete)
//! and queries.

mod bulk;
mod composite;
mod query;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::ids::RecordId;
use crate::org::{ExternalIdError, Fields, Org, Upserted, malformed_id};
use crate::schema::{self, Object};
use crate::server::Shared;

/// The newest API version listed (any `vNN.N` is accepted).
const LATEST_MAJOR: u32 = 64;

pub(crate) use query::Cursors;

type AppState = State<Arc<Shared>>;

/// The routes under `/services/data/{version}`.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/services/data/{version}", get(resources))
        .route("/services/data/{version}/query", get(query::query))
        .route("/services/data/{version}/queryAll", get(query::query_all))
        .route("/services/data/{version}/query/{locator}", get(query::more))
        .route(
            "/services/data/{version}/composite",
            post(composite::composite),
        )
        .route(
            "/services/data/{version}/composite/sobjects",
            post(composite::create)
                .patch(composite::update)
                .delete(composite::delete),
        )
        .route(
            "/services/data/{version}/composite/sobjects/{object}/{field}",
            patch(composite::upsert),
        )
        .route(
            "/services/data/{version}/jobs/ingest",
            post(bulk::create_ingest),
        )
        .route(
            "/services/data/{version}/jobs/ingest/{id}",
            get(bulk::ingest_info)
                .patch(bulk::set_state)
                .delete(bulk::delete),
        )
        .route(
            "/services/data/{version}/jobs/ingest/{id}/batches",
            put(bulk::upload),
        )
        .route(
            "/services/data/{version}/jobs/ingest/{id}/{results}",
            get(bulk::results),
        )
        .route(
            "/services/data/{version}/jobs/query",
            post(bulk::create_query),
        )
        .route(
            "/services/data/{version}/jobs/query/{id}",
            get(bulk::query_info).delete(bulk::delete),
        )
        .route(
            "/services/data/{version}/jobs/query/{id}/results",
            get(bulk::query_results),
        )
        .route("/services/data/{version}/limits", get(limits))
        .route("/services/data/{version}/sobjects", get(describe_global))
        .route(
            "/services/data/{version}/sobjects/{object}",
            get(basic_info).post(create),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/describe",
            get(describe),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/{id}",
            get(read).patch(update).delete(delete),
        )
        .route(
            "/services/data/{version}/sobjects/{object}/{field}/{value}",
            get(read_by_external_id)
                .patch(upsert)
                .delete(delete_by_external_id),
        )
}

/// `GET /services/data`: the versions, no session needed.
pub(crate) async fn versions() -> Response {
    let versions: Vec<Value> = (31..=LATEST_MAJOR)
        .map(|major| {
            let version = format!("{major}.0");
            json!({
                "label": format!("Release {major}"),
                "url": format!("/services/data/v{version}"),
                "version": version,
            })
        })
        .collect();
    axum::Json(versions).into_response()
}

/// `vNN.N` from the path, or 404.
fn version(text: &str) -> Result<&str, ApiError> {
    let valid = text
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        });
    if valid {
        Ok(text)
    } else {
        Err(ApiError::not_found())
    }
}

async fn resources(Path(version_text): Path<String>) -> Result<Response, ApiError> {
    let version = version(&version_text)?;
    let base = format!("/services/data/{version}");
    let resources: Map<String, Value> = [
        "sobjects",
        "query",
        "queryAll",
        "limits",
        "composite",
        "jobs/ingest",
        "jobs/query",
    ]
    .into_iter()
    .map(|name| {
        let key = match name {
            "jobs/ingest" => "jobs",
            other => other,
        };
        (key.to_owned(), json!(format!("{base}/{name}")))
    })
    .collect();
    Ok(axum::Json(resources).into_response())
}

async fn limits(
    State(shared): AppState,
    Path(version_text): Path<String>,
) -> Result<Response, ApiError> {
    version(&version_text)?;
    let max = shared.config.daily_api_requests;
    let used = shared.api_requests.load(Ordering::Relaxed).min(max);
    let fixed: &[(&str, u64)] = &[
        ("ConcurrentAsyncGetReportInstances", 200),
        ("ConcurrentSyncReportRuns", 20),
        ("DailyAsyncApexExecutions", 250_000),
        ("DailyBulkApiRequests", 5_000),
        ("DailyDurableGenericStreamingApiEvents", 10_000),
        ("DailyDurableStreamingApiEvents", 10_000),
        ("DailyGenericStreamingApiEvents", 10_000),
        ("DailyStreamingApiEvents", 10_000),
        ("DailyWorkflowEmails", 390),
        ("DataStorageMB", 5),
        ("DurableStreamingApiConcurrentClients", 20),
        ("FileStorageMB", 20),
        ("HourlyAsyncReportRuns", 1_200),
        ("HourlyDashboardRefreshes", 200),
        ("HourlyDashboardResults", 5_000),
        ("HourlyDashboardStatuses", 999_999_999),
        ("HourlyODataCallout", 10_000),
        ("HourlySyncReportRuns", 500),
        ("HourlyTimeBasedWorkflow", 50),
        ("MassEmail", 10),
        ("SingleEmail", 15),
        ("StreamingApiConcurrentClients", 20),
    ];
    let mut body = Map::new();
    body.insert(
        "DailyApiRequests".to_owned(),
        json!({ "Max": max, "Remaining": max - used }),
    );
    for (name, max) in fixed {
        body.insert((*name).to_owned(), json!({ "Max": max, "Remaining": max }));
    }
    Ok(axum::Json(body).into_response())
}

async fn describe_global(
    State(shared): AppState,
    Path(version_text): Path<String>,
) -> Result<Response, ApiError> {
    let version = version(&version_text)?;
    let org = shared.org();
    Ok(axum::Json(schema::describe_global(org.schema(), version)).into_response())
}

async fn describe(
    State(shared): AppState,
    Path((version_text, object)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let version = version(&version_text)?;
    let org = shared.org();
    let object = org.object(&object)?;
    let described = schema::describe_object(org.schema(), object, version, shared.instance_url());
    Ok(axum::Json(described).into_response())
}

async fn basic_info(
    State(shared): AppState,
    Path((version_text, object)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let version = version(&version_text)?;
    let org = shared.org();
    let object = org.object(&object)?;
    let global = schema::describe_global(org.schema(), version);
    let described = global["sobjects"]
        .as_array()
        .and_then(|all| all.iter().find(|o| o["name"] == json!(object.name)))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(axum::Json(json!({ "objectDescribe": described, "recentItems": [] })).into_response())
}

/// A JSON object body, or 400 JSON_PARSER_ERROR.
fn json_body(body: &Bytes) -> Result<Fields, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(
            "JSON_PARSER_ERROR",
            format!(
                "{error} at [line:{}, column:{}]",
                error.line(),
                error.column()
            ),
        )
    })?;
    match value {
        Value::Object(fields) => Ok(fields),
        other => Err(ApiError::bad_request(
            "JSON_PARSER_ERROR",
            format!(
                "Cannot deserialize instance of sObject from {} value",
                if other.is_array() {
                    "START_ARRAY"
                } else {
                    "a scalar"
                }
            ),
        )),
    }
}

async fn create(
    State(shared): AppState,
    Path((version_text, object)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    version(&version_text)?;
    let fields = json_body(&body)?;
    let id = shared.org().create(&object, &fields)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "id": id.to_string(), "errors": [], "success": true })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct FieldsParam {
    fields: Option<String>,
}

/// A record as GET answers it: `attributes`, then every field (or those
/// asked for) in describe order.
pub(crate) fn record_json(
    object: &Object,
    record: &Fields,
    version: &str,
    only: Option<&[String]>,
) -> Value {
    let id = record.get("Id").and_then(Value::as_str).unwrap_or_default();
    let mut answer = Map::new();
    answer.insert(
        "attributes".to_owned(),
        json!({ "type": object.name, "url": format!("/services/data/{version}/sobjects/{}/{id}", object.name) }),
    );
    for field in &object.fields {
        let wanted = only.is_none_or(|only| {
            only.iter()
                .any(|name| name.eq_ignore_ascii_case(&field.name))
        });
        if wanted {
            answer.insert(
                field.name.clone(),
                record.get(&field.name).cloned().unwrap_or(Value::Null),
            );
        }
    }
    Value::Object(answer)
}

fn requested_fields(object: &Object, param: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(param) = param else {
        return Ok(None);
    };
    let names: Vec<String> = param
        .split(',')
        .map(|name| name.trim().to_owned())
        .collect();
    for name in &names {
        if object.field(name).is_none() {
            return Err(ApiError::bad_request(
                "INVALID_FIELD",
                format!(
                    "No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                    object.name
                ),
            ));
        }
    }
    Ok(Some(names))
}

/// The Id in a path under `object`, or the error Salesforce gives: 404
/// for an unknown object, or for a segment that is no Id (read as an
/// external id field's name).
fn path_id(org: &Org, object: &str, id_text: &str) -> Result<RecordId, ApiError> {
    org.object(object)?;
    RecordId::parse(id_text).ok_or_else(|| malformed_id(id_text))
}

async fn read(
    State(shared): AppState,
    Path((version_text, object, id)): Path<(String, String, String)>,
    Query(params): Query<FieldsParam>,
) -> Result<Response, ApiError> {
    let version = version(&version_text)?;
    let org = shared.org();
    let id = path_id(&org, &object, &id)?;
    let object = org.object(&object)?;
    let record = org.get(&object.name, &id).ok_or_else(ApiError::not_found)?;
    let only = requested_fields(object, params.fields.as_deref())?;
    Ok(axum::Json(record_json(object, record, version, only.as_deref())).into_response())
}

async fn update(
    State(shared): AppState,
    Path((version_text, object, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    version(&version_text)?;
    let fields = json_body(&body)?;
    let mut org = shared.org();
    let id = path_id(&org, &object, &id)?;
    org.update(&object, &id, &fields)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete(
    State(shared): AppState,
    Path((version_text, object, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    version(&version_text)?;
    let mut org = shared.org();
    let id = path_id(&org, &object, &id)?;
    org.delete(&object, &id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

impl IntoResponse for ExternalIdError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(error) => error.into_response(),
            Self::Multiple(urls) => {
                (StatusCode::MULTIPLE_CHOICES, axum::Json(urls)).into_response()
            }
        }
    }
}

/// The one record of `object` whose external id `field` is `value`.
fn by_external_id(
    org: &Org,
    object: &str,
    field: &str,
    value: &str,
    version: &str,
) -> Result<RecordId, ExternalIdError> {
    let object = org.object(object)?;
    let external = object
        .field(field)
        .filter(|f| f.external_id)
        .ok_or_else(|| malformed_id(field))?;
    match org.find_by(object, external, &json!(value)).as_slice() {
        [] => Err(ApiError::not_found().into()),
        [id] => Ok(id.clone()),
        several => Err(ExternalIdError::Multiple(
            several
                .iter()
                .map(|id| format!("/services/data/{version}/sobjects/{}/{id}", object.name))
                .collect(),
        )),
    }
}

async fn read_by_external_id(
    State(shared): AppState,
    Path((version_text, object, field, value)): Path<(String, String, String, String)>,
    Query(params): Query<FieldsParam>,
) -> Result<Response, ExternalIdError> {
    let version = version(&version_text)?;
    let org = shared.org();
    let id = by_external_id(&org, &object, &field, &value, version)?;
    let object = org.object(&object)?;
    let only = requested_fields(object, params.fields.as_deref())?;
    let record = org.get(&object.name, &id).ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(record_json(object, record, version, only.as_deref())).into_response())
}

async fn upsert(
    State(shared): AppState,
    Path((version_text, object, field, value)): Path<(String, String, String, String)>,
    body: Bytes,
) -> Result<Response, ExternalIdError> {
    let version = version(&version_text)?;
    let fields = json_body(&body)?;
    let upserted = shared
        .org()
        .upsert(&object, &field, &value, &fields, version)?;
    // Before API 46.0 an update answered 204 with no body, and no answer
    // said whether it created.
    let modern = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok())
        .is_some_and(|major| major >= 46);
    let (status, id, created) = match upserted {
        Upserted::Created(id) => (StatusCode::CREATED, id, true),
        Upserted::Updated(_) if !modern => return Ok(StatusCode::NO_CONTENT.into_response()),
        Upserted::Updated(id) => (StatusCode::OK, id, false),
    };
    let mut body = json!({ "id": id.to_string(), "success": true, "errors": [] });
    if modern {
        body["created"] = json!(created);
    }
    Ok((status, axum::Json(body)).into_response())
}

async fn delete_by_external_id(
    State(shared): AppState,
    Path((version_text, object, field, value)): Path<(String, String, String, String)>,
) -> Result<Response, ExternalIdError> {
    let version = version(&version_text)?;
    let mut org = shared.org();
    let id = by_external_id(&org, &object, &field, &value, version)?;
    org.delete(&object, &id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_checked() {
        assert!(version("v60.0").is_ok());
        assert!(version(&format!("v{LATEST_MAJOR}.0")).is_ok());
        for bad in ["60.0", "v60", "vx.0", "v.0", "latest"] {
            assert_eq!(version(bad).unwrap_err().code, "NOT_FOUND", "{bad}");
        }
    }
}
