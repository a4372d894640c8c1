//! `POST /hooks/{workflow_id}`: the webhook trigger.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{error, not_accepted};
use crate::Engine;
use crate::model::{RunRecord, RunStatus};
use crate::store::Accepted;
use crate::trigger::webhook::{self, Refusal};
use crate::workflow::{Respond, Trigger};

/// The header every answer about a run carries.
const RUN_ID_HEADER: &str = "gust-run-id";

pub(super) async fn webhook(
    State(engine): State<Engine>,
    Path(workflow_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    let workflows = engine.workflows();
    let Some(prepared) = workflows.ready.get(&workflow_id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no workflow `{workflow_id}` is loaded"),
        );
    };
    let Trigger::Webhook(trigger) = &prepared.workflow.trigger else {
        return error(
            StatusCode::NOT_FOUND,
            format!("workflow `{workflow_id}` is not started by a webhook"),
        );
    };
    let event = webhook::authorize(trigger, &headers, &body)
        .and_then(|()| webhook::idempotency_key(&headers))
        .and_then(|key| Ok((key, webhook::event(&method, &uri, &headers, &body)?)));
    let (dedupe_key, event) = match event {
        Ok(accepted) => accepted,
        Err(refusal) => return refused(&workflow_id, &refusal),
    };
    let respond = trigger.respond;
    let accepted = match engine.submit_checked(&workflow_id, event, dedupe_key).await {
        Ok(accepted) => accepted,
        Err(refusal) => return not_accepted(&refusal),
    };
    let duplicate = matches!(accepted, Accepted::Duplicate(_));
    let run = accepted.run().clone();
    if respond == Respond::Sync {
        match engine.wait(run.id, engine.config.sync_timeout).await {
            Ok(Some(ended)) => return finished(&ended, duplicate),
            Ok(None) => {}
            Err(store_error) => {
                tracing::error!(run = %run.id, %store_error, "Cannot read the run.")
            }
        }
    }
    with_run_id(
        (
            StatusCode::ACCEPTED,
            axum::Json(json!({
                "run_id": run.id.to_string(),
                "status": run.status,
                "duplicate": duplicate,
            })),
        )
            .into_response(),
        &run,
    )
}

fn refused(workflow: &str, refusal: &Refusal) -> Response {
    let status = match refusal {
        Refusal::Unauthorized(_) => StatusCode::UNAUTHORIZED,
        Refusal::MissingSecret(_) => {
            tracing::error!(workflow, error = %refusal, "A webhook's secret is missing.");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Refusal::BadBody(_) | Refusal::LongIdempotencyKey => StatusCode::BAD_REQUEST,
        Refusal::Binary => StatusCode::UNSUPPORTED_MEDIA_TYPE,
    };
    error(status, refusal)
}

/// The answer of a `"respond": "sync"` webhook whose run ended: the last
/// step's output, or the failure.
fn finished(run: &RunRecord, duplicate: bool) -> Response {
    let response = match run.status {
        RunStatus::Succeeded => {
            let output = run.output.clone().unwrap_or_default();
            (StatusCode::OK, axum::Json(output)).into_response()
        }
        _ => (
            StatusCode::BAD_GATEWAY,
            axum::Json(json!({
                "error": run.error.clone().unwrap_or_else(|| "the run failed".to_owned()),
                "run_id": run.id.to_string(),
                "duplicate": duplicate,
            })),
        )
            .into_response(),
    };
    with_run_id(response, run)
}

fn with_run_id(mut response: Response, run: &RunRecord) -> Response {
    if let Ok(value) = HeaderValue::from_str(&run.id.to_string()) {
        response.headers_mut().insert(RUN_ID_HEADER, value);
    }
    response
}
