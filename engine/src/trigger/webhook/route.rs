//! `POST /hooks/{workflow_id}`, and `POST
//! /hooks/{workflow_id}/{installation_id}[/{token}]` for an installation:
//! the webhook trigger.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::handler::{self, Refusal};
use super::{Respond, WebhookTrigger};
use crate::api::{ApiError, EventAccepted, RunFailed};
use crate::model::{InstallationId, RunRecord, RunStatus};
use crate::runtime::RunFor;
use crate::store::Accepted;
use crate::trigger::{Trigger, TriggerHost};
use crate::workflow::Workflow;

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
    let request = Request::read(method, uri, headers, body)?;
    let (workflow, trigger) = webhook_of(host.as_ref(), &workflow_id)?;
    if workflow.is_installable() {
        return Err(ApiError::not_found(format!(
            "workflow `{workflow_id}` is installed per customer: post to \
             /hooks/{workflow_id}/{{installation_id}} (create installations with POST /api/installations)"
        )));
    }
    handler::authorize(&trigger, &request.headers, &request.body)
        .map_err(|refusal| refused(&workflow_id, &refusal))?;
    accept(host, &trigger, RunFor::workflow(&workflow_id), request).await
}

/// `POST /hooks/{workflow_id}/{installation_id}`: an installation's
/// webhook, called with its bearer secret.
pub(crate) async fn installation_webhook(
    State(host): State<Arc<dyn TriggerHost>>,
    Path((workflow_id, installation_id)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = Request::read(method, uri, headers, body)?;
    installation_request(host, &workflow_id, &installation_id, None, request).await
}

/// `POST /hooks/{workflow_id}/{installation_id}/{token}`: an
/// installation's unguessable URL, which needs no bearer secret.
pub(crate) async fn installation_webhook_with_token(
    State(host): State<Arc<dyn TriggerHost>>,
    Path((workflow_id, installation_id, token)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request = Request::read(method, uri, headers, body)?;
    installation_request(host, &workflow_id, &installation_id, Some(&token), request).await
}

/// A request as the webhook reads it.
struct Request {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Request {
    /// The request, or the refusal of a body that could not be read (too
    /// large, cut off).
    fn read(
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Result<Bytes, BytesRejection>,
    ) -> Result<Self, ApiError> {
        let body =
            body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
        Ok(Self {
            method,
            uri,
            headers,
            body,
        })
    }
}

/// The webhook trigger of loaded workflow `workflow_id`.
fn webhook_of(
    host: &dyn TriggerHost,
    workflow_id: &str,
) -> Result<(Arc<Workflow>, WebhookTrigger), ApiError> {
    let Some(workflow) = host.workflow(workflow_id) else {
        return Err(ApiError::not_found(format!(
            "no workflow `{workflow_id}` is loaded"
        )));
    };
    let Trigger::Webhook(trigger) = &workflow.trigger else {
        return Err(ApiError::not_found(format!(
            "workflow `{workflow_id}` is not started by a webhook"
        )));
    };
    let trigger = trigger.clone();
    Ok((workflow, trigger))
}

/// A request to an installation's webhook: the installation checked
/// (known, of this workflow, enabled) and its secret or URL token.
async fn installation_request(
    host: Arc<dyn TriggerHost>,
    workflow_id: &str,
    installation_id: &str,
    token: Option<&str>,
    request: Request,
) -> Result<Response, ApiError> {
    let (workflow, trigger) = webhook_of(host.as_ref(), workflow_id)?;
    let unknown = || {
        ApiError::not_found(format!(
            "workflow `{workflow_id}` has no installation `{installation_id}`"
        ))
    };
    if !workflow.is_installable() {
        return Err(ApiError::not_found(format!(
            "workflow `{workflow_id}` has no installations: post to /hooks/{workflow_id}"
        )));
    }
    let installation = InstallationId::parse(installation_id)
        .and_then(|id| host.installation(&id))
        .filter(|installation| installation.record.workflow == workflow_id)
        .ok_or_else(unknown)?;
    let record = &installation.record;
    match token {
        // A wrong token is an unknown URL: it says nothing of the installation.
        Some(token) => {
            if !record
                .url_token
                .as_ref()
                .is_some_and(|digest| digest.matches(token))
            {
                return Err(unknown());
            }
        }
        None => {
            let presented = handler::bearer_token(&request.headers).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "this installation's webhook needs `Authorization: Bearer <its webhook secret>`",
                )
            })?;
            if !record.secret.matches(presented) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "the bearer secret is not this installation's webhook secret",
                ));
            }
        }
    }
    // A paused installation is refused by the intake (409), as for every trigger.
    let target = RunFor::installation(record);
    accept(host, &trigger, target, request).await
}

/// Stores the event of an authorized request for `target` and answers
/// with its run (or, for `"respond": "sync"`, its end).
async fn accept(
    host: Arc<dyn TriggerHost>,
    trigger: &WebhookTrigger,
    target: RunFor,
    request: Request,
) -> Result<Response, ApiError> {
    let Request {
        method,
        uri,
        headers,
        body,
    } = request;
    let (dedupe_key, event) = handler::idempotency_key(&headers)
        .and_then(|key| Ok((key, handler::event(&method, &uri, &headers, &body)?)))
        .map_err(|refusal| refused(&target.workflow, &refusal))?;
    let accepted = host.submit_one(&target, (event, dedupe_key)).await?;
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
