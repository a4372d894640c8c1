//! Bulk API 2.0 over HTTP: `/jobs/ingest` and `/jobs/query`.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::{AppState, json_body, version};
use crate::error::ApiError;

/// `POST /jobs/ingest`: a job to upload data to, or (multipart, with the
/// job in part `job` and the CSV in part `content`) a job with its data,
/// processed at once.
pub(super) async fn create_ingest(
    State(shared): AppState,
    Path(version_text): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let version = version(&version_text)?;
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"multipart/form-data"));
    if !multipart {
        let body = axum::body::to_bytes(request.into_body(), usize::MAX)
            .await
            .map_err(|error| ApiError::bad_request("INVALID_INPUT", error.to_string()))?;
        let job_request = json_body(&body)?;
        let org = shared.org();
        let job = shared.jobs().create_ingest(&org, &job_request, version)?;
        return Ok(axum::Json(job).into_response());
    }
    let invalid = |message: String| ApiError::bad_request("INVALID_INPUT", message);
    let mut parts = Multipart::from_request(request, &shared)
        .await
        .map_err(|error| invalid(error.body_text()))?;
    let (mut job, mut content) = (None, None);
    while let Some(part) = parts
        .next_field()
        .await
        .map_err(|error| invalid(error.body_text()))?
    {
        let name = part.name().unwrap_or_default().to_owned();
        let bytes = part
            .bytes()
            .await
            .map_err(|error| invalid(error.body_text()))?;
        match name.as_str() {
            "job" => job = Some(json_body(&bytes)?),
            "content" => content = Some(bytes),
            _ => {}
        }
    }
    let job = job.ok_or_else(|| invalid("The multipart request has no job part".to_owned()))?;
    let content =
        content.ok_or_else(|| invalid("The multipart request has no content part".to_owned()))?;
    let mut org = shared.org();
    let mut jobs = shared.jobs();
    let created = jobs.create_ingest(&org, &job, version)?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    jobs.upload(&id, &content)?;
    let info = jobs.set_state(&mut org, &id, "UploadComplete", version)?;
    Ok(axum::Json(info).into_response())
}

/// `PUT /jobs/ingest/{id}/batches`: the CSV.
pub(super) async fn upload(
    State(shared): AppState,
    Path((version_text, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    version(&version_text)?;
    shared.jobs().upload(&id, &body)?;
    Ok(StatusCode::CREATED.into_response())
}

/// `GET /jobs/ingest/{id}`.
pub(super) async fn ingest_info(
    State(shared): AppState,
    Path((version_text, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let version = version(&version_text)?;
    let info = shared.jobs().ingest_info(&id, version)?;
    Ok(axum::Json(info).into_response())
}

/// `PATCH /jobs/ingest/{id}` with `{"state": "UploadComplete" | "Aborted"}`.
pub(super) async fn set_state(
    State(shared): AppState,
    Path((version_text, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let version = version(&version_text)?;
    let request = json_body(&body)?;
    let state = request
        .get("state")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut org = shared.org();
    let info = shared.jobs().set_state(&mut org, &id, state, version)?;
    Ok(axum::Json(info).into_response())
}

/// `DELETE /jobs/ingest/{id}` and `/jobs/query/{id}`.
pub(super) async fn delete(
    State(shared): AppState,
    Path((version_text, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    version(&version_text)?;
    shared.jobs().delete(&id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn csv(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv")], text).into_response()
}

/// `GET /jobs/ingest/{id}/successfulResults`, `.../failedResults` and
/// `.../unprocessedrecords`.
pub(super) async fn results(
    State(shared): AppState,
    Path((version_text, id, which)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    version(&version_text)?;
    if !matches!(
        which.as_str(),
        "successfulResults" | "failedResults" | "unprocessedrecords"
    ) {
        return Err(ApiError::not_found());
    }
    Ok(csv(shared.jobs().ingest_results(&id, &which)?))
}

/// `POST /jobs/query`.
pub(super) async fn create_query(
    State(shared): AppState,
    Path(version_text): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let version = version(&version_text)?;
    let request = json_body(&body)?;
    let org = shared.org();
    let job = shared.jobs().create_query(&org, &request, version)?;
    Ok(axum::Json(job).into_response())
}

/// `GET /jobs/query/{id}`.
pub(super) async fn query_info(
    State(shared): AppState,
    Path((version_text, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    version(&version_text)?;
    Ok(axum::Json(shared.jobs().query_info(&id)?).into_response())
}

#[derive(Deserialize)]
pub(super) struct ResultParams {
    locator: Option<String>,
    #[serde(rename = "maxRecords")]
    max_records: Option<usize>,
}

/// `GET /jobs/query/{id}/results?locator=&maxRecords=`: a CSV page with
/// `Sforce-Locator` (`null` on the last page) and `Sforce-NumberOfRecords`.
pub(super) async fn query_results(
    State(shared): AppState,
    Path((version_text, id)): Path<(String, String)>,
    Query(params): Query<ResultParams>,
) -> Result<Response, ApiError> {
    version(&version_text)?;
    let (text, count, next) =
        shared
            .jobs()
            .query_results(&id, params.locator.as_deref(), params.max_records)?;
    let mut response = csv(text);
    let headers = response.headers_mut();
    let locator = next.unwrap_or_else(|| "null".to_owned());
    if let Ok(value) = locator.parse() {
        headers.insert("sforce-locator", value);
    }
    headers.insert("sforce-numberofrecords", count.into());
    Ok(response)
}
