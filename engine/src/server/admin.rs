//! The admin API: workflows, runs, replay, health and metrics.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{error, not_accepted};
use crate::Engine;
use crate::model::{RunId, RunStatus};
use crate::store::RunQuery;

/// The default page size of `GET /api/runs`.
const DEFAULT_LIMIT: usize = 50;
/// The largest page size of `GET /api/runs`.
const MAX_LIMIT: usize = 1_000;

pub(super) async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

pub(super) async fn metrics(State(engine): State<Engine>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        engine.metrics(),
    )
        .into_response()
}

pub(super) async fn workflows(State(engine): State<Engine>, headers: HeaderMap) -> Response {
    let base = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(|host| format!("http://{host}"))
        .unwrap_or_default();
    let set = engine.workflows();
    let mut list: Vec<Value> = set
        .ready
        .values()
        .map(|prepared| {
            let workflow = &prepared.workflow;
            let kind = workflow.trigger.kind();
            let urls: Vec<String> = workflow
                .trigger
                .path(workflow.id.as_str())
                .map(|path| format!("{base}{path}"))
                .into_iter()
                .collect();
            json!({
                "id": workflow.id.to_string(),
                "state": "ready",
                "description": workflow.description,
                "trigger": { "type": kind, "definition": workflow.trigger, "summary": workflow.trigger.summary() },
                "urls": urls,
                "timer": engine.trigger_status(workflow.id.as_str()),
                "steps": workflow.steps.iter().map(|step| step.id.to_string()).collect::<Vec<_>>(),
            })
        })
        .collect();
    list.extend(set.invalid.iter().map(|invalid| {
        json!({
            "state": "invalid",
            "source": invalid.source,
            "errors": invalid.errors,
        })
    }));
    axum::Json(json!({ "workflows": list })).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct RunsParams {
    workflow: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub(super) async fn runs(
    State(engine): State<Engine>,
    Query(params): Query<RunsParams>,
) -> Response {
    let status = match params
        .status
        .as_deref()
        .map(str::parse::<RunStatus>)
        .transpose()
    {
        Ok(status) => status,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    let before = match params
        .cursor
        .as_deref()
        .map(str::parse::<RunId>)
        .transpose()
    {
        Ok(before) => before,
        Err(message) => return error(StatusCode::BAD_REQUEST, format!("cursor: {message}")),
    };
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("limit is 1 to {MAX_LIMIT}"),
        );
    }
    let query = RunQuery {
        workflow: params.workflow,
        status,
        limit,
        before,
    };
    match engine.runs(&query) {
        Ok(page) => axum::Json(json!({
            "runs": page.runs,
            "next_cursor": page.next_cursor.map(|id| id.to_string()),
        }))
        .into_response(),
        Err(store_error) => error(StatusCode::SERVICE_UNAVAILABLE, store_error),
    }
}

pub(super) async fn run(State(engine): State<Engine>, Path(run_id): Path<String>) -> Response {
    let id = match run_id.parse::<RunId>() {
        Ok(id) => id,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match engine.run_detail(id) {
        Ok(Some(detail)) => axum::Json(detail).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no run `{id}` is stored")),
        Err(store_error) => error(StatusCode::SERVICE_UNAVAILABLE, store_error),
    }
}

pub(super) async fn replay(State(engine): State<Engine>, Path(run_id): Path<String>) -> Response {
    let id = match run_id.parse::<RunId>() {
        Ok(id) => id,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match engine.replay(id).await {
        Ok(run) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "run_id": run.id.to_string(), "replay_of": id.to_string() })),
        )
            .into_response(),
        Err(refusal) => not_accepted(&refusal),
    }
}
