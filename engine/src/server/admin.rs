//! The admin API: workflows, runs, replay, health and metrics.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Engine;
use crate::api::{
    ApiError, BacklogView, EventAccepted, InvalidWorkflowView, ReadyWorkflow, ReplayParams,
    Replayed, RunList, RunListParams, StartRun, TriggerView, WorkflowList, WorkflowView,
};
use crate::model::{InstallationId, RunId, RunStatus};
use crate::store::{RunDetail, RunQuery};

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
        engine.metrics().await,
    )
        .into_response()
}

pub(super) async fn backlog(State(engine): State<Engine>) -> axum::Json<BacklogView> {
    axum::Json(engine.backlog())
}

pub(super) async fn workflows(
    State(engine): State<Engine>,
    headers: HeaderMap,
) -> axum::Json<WorkflowList> {
    let base = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(|host| format!("http://{host}"))
        .unwrap_or_default();
    axum::Json(engine.workflow_list(&base))
}

impl Engine {
    /// Every workflow loaded and every file that failed to load, as `GET
    /// /api/workflows` answers; request triggers' URLs start with `base`
    /// (`http://host:port`, or empty for paths).
    pub fn workflow_list(&self, base: &str) -> WorkflowList {
        let set = self.workflows();
        let ready = set.ready.values().map(|prepared| {
            let workflow = &prepared.workflow;
            let trigger = &workflow.trigger;
            WorkflowView::Ready(Box::new(ReadyWorkflow {
                id: workflow.id.to_string(),
                description: workflow.description.clone(),
                trigger: TriggerView {
                    kind: trigger.kind().to_owned(),
                    definition: serde_json::to_value(trigger).unwrap_or_default(),
                    summary: trigger.summary(),
                },
                urls: workflow
                    .request_path()
                    .map(|path| format!("{base}{path}"))
                    .into_iter()
                    .collect(),
                timer: self.trigger_status(workflow.id.as_str()),
                steps: workflow
                    .steps
                    .iter()
                    .map(|step| step.id.to_string())
                    .collect(),
            }))
        });
        let invalid = set.invalid.iter().map(|invalid| {
            WorkflowView::Invalid(InvalidWorkflowView {
                source: invalid.source.clone(),
                errors: invalid.errors.iter().map(ToString::to_string).collect(),
            })
        });
        WorkflowList {
            workflows: ready.chain(invalid).collect(),
        }
    }
}

pub(super) async fn runs(
    State(engine): State<Engine>,
    Query(params): Query<RunListParams>,
) -> Result<axum::Json<RunList>, ApiError> {
    let status = params
        .status
        .as_deref()
        .map(str::parse::<RunStatus>)
        .transpose()?;
    let before = params
        .cursor
        .as_deref()
        .map(str::parse::<RunId>)
        .transpose()
        .map_err(|error| ApiError::bad_request(format!("cursor: {error}")))?;
    let limit = params.limit.unwrap_or(RunQuery::DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit is 1 to {MAX_LIMIT}")));
    }
    let installation = params
        .installation
        .map(|text| {
            InstallationId::parse(&text).ok_or_else(|| {
                ApiError::bad_request(format!("installation: `{text}` is not an installation id"))
            })
        })
        .transpose()?;
    let query = RunQuery {
        workflow: params.workflow,
        tenant: params.tenant,
        installation,
        status,
        limit,
        before,
        ..RunQuery::default()
    };
    let page = engine.runs(&query).await?;
    Ok(axum::Json(RunList {
        runs: page.runs,
        next_cursor: page.next_cursor,
    }))
}

pub(super) async fn run(
    State(engine): State<Engine>,
    Path(run_id): Path<String>,
) -> Result<axum::Json<RunDetail>, ApiError> {
    let id = run_id.parse::<RunId>()?;
    match engine.run_detail(id).await? {
        Some(detail) => Ok(axum::Json(detail)),
        None => Err(ApiError::not_found(format!("no run `{id}` is stored"))),
    }
}

/// `POST /api/runs/{id}/replay`: the run's event as a new run, or with
/// `?resume=true` the failed run itself resumed at its failed step.
pub(super) async fn replay(
    State(engine): State<Engine>,
    Path(run_id): Path<String>,
    Query(params): Query<ReplayParams>,
) -> Result<Response, ApiError> {
    let id = run_id.parse::<RunId>()?;
    let resumed = params.resume.unwrap_or(false);
    let run = if resumed {
        engine.resume(id).await?
    } else {
        engine.replay(id).await?
    };
    let body = Replayed {
        run_id: run.id,
        replay_of: id,
        resumed,
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// `POST /api/workflows/{id}/runs`: a run started by hand, whatever the
/// workflow's trigger.
pub(super) async fn start(
    State(engine): State<Engine>,
    Path(workflow_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let start: StartRun = if body.iter().all(u8::is_ascii_whitespace) {
        StartRun::default()
    } else {
        serde_json::from_slice(&body).map_err(|error| {
            ApiError::bad_request(format!(
                "the body is `{{\"event\": ...}}`, `{{\"body\": ...}}` or empty: {error}"
            ))
        })?
    };
    let prepared = engine
        .workflows()
        .ready
        .get(&workflow_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no workflow `{workflow_id}` is loaded")))?;
    let event = match start {
        StartRun {
            event: Some(_),
            body: Some(_),
        } => return Err(ApiError::bad_request("give `event` or `body`, not both")),
        StartRun {
            event: Some(event), ..
        } => event,
        StartRun { body, .. } => prepared
            .workflow
            .trigger
            .event_for_body(&workflow_id, body)
            .map_err(ApiError::bad_request)?,
    };
    let accepted = engine.submit(&workflow_id, event, None).await?;
    let run = accepted.run();
    let body = EventAccepted {
        run_id: run.id,
        status: run.status,
        duplicate: false,
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}
