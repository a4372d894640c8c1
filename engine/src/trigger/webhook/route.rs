//! `POST /hooks/{workflow_id}`: the webhook trigger.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::Respond;
use super::handler::{self, Refusal};
use crate::api::{ApiError, EventAccepted, RunFailed};
use crate::model::{RunRecord, RunStatus};
use crate::store::Accepted;
use crate::trigger::{Trigger, TriggerHost};

/// The header every answer about a run carries.
const RUN_ID_HEADER: &str = "gust-run-id";

/// `POST /hooks/{workflow_id}`.
pub(crate) async fn webhook(
    State(host): State<Arc<dyn TriggerHost>>,
    Path(workflow_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body =
        body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let Some(workflow) = host.workflow(&workflow_id) else {
        return Err(ApiError::not_found(format!(
            "no workflow `{workflow_id}` is loaded"
        )));
    };
    let Trigger::Webhook(trigger) = &workflow.trigger else {
        return Err(ApiError::not_found(format!(
            "workflow `{workflow_id}` is not started by a webhook"
        )));
    };
    let (dedupe_key, event) = handler::authorize(trigger, &headers, &body)
        .and_then(|()| handler::idempotency_key(&headers))
        .and_then(|key| Ok((key, handler::event(&method, &uri, &headers, &body)?)))
        .map_err(|refusal| refused(&workflow_id, &refusal))?;
    let accepted = host.submit_one(&workflow_id, (event, dedupe_key)).await?;
    let duplicate = matches!(accepted, Accepted::Duplicate(_));
    let run = accepted.run().clone();
    if trigger.respond == Respond::Sync {
        match host.wait(run.id, host.sync_timeout()).await {
            Ok(Some(ended)) => return Ok(finished(&ended, duplicate)),
            Ok(None) => {}
            Err(store_error) => {
                tracing::error!(run = %run.id, %store_error, "Cannot read the run.")
            }
        }
    }
    let body = EventAccepted {
        run_id: run.id,
        status: run.status,
        duplicate,
    };
    Ok(with_run_id(
        (StatusCode::ACCEPTED, axum::Json(body)).into_response(),
        &run,
    ))
}

fn refused(workflow: &str, refusal: &Refusal) -> ApiError {
    let status = match refusal {
        Refusal::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Refusal::MissingSecret(_) => {
            tracing::error!(workflow, error = %refusal, "A webhook's secret is missing.");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Refusal::BadBody(_) | Refusal::LongIdempotencyKey => StatusCode::BAD_REQUEST,
        Refusal::Binary => StatusCode::UNSUPPORTED_MEDIA_TYPE,
    };
    ApiError::new(status, refusal)
}

/// The answer of a `"respond": "sync"` webhook whose run ended: the last
/// step's output, or the failure.
fn finished(run: &RunRecord, duplicate: bool) -> Response {
    let response = match run.status {
        RunStatus::Succeeded => {
            let output = run.output.clone().unwrap_or_default();
            (StatusCode::OK, axum::Json(output)).into_response()
        }
        _ => {
            let body = RunFailed {
                error: run
                    .error
                    .clone()
                    .unwrap_or_else(|| "the run failed".to_owned()),
                run_id: run.id,
                duplicate,
            };
            (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
        }
    };
    with_run_id(response, run)
}

fn with_run_id(mut response: Response, run: &RunRecord) -> Response {
    if let Ok(value) = HeaderValue::from_str(&run.id.to_string()) {
        response.headers_mut().insert(RUN_ID_HEADER, value);
    }
    response
}
