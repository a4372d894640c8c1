//! The routes in process, through `oneshot`: status codes and bodies of
//! what is refused, and the typed bodies of what is answered. (The path of
//! an event through a real socket is in the end-to-end tests.)

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::json;
use tower::ServiceExt as _;

use crate::api::{ErrorBody, EventAccepted, RunList, WorkflowList, WorkflowView};
use crate::model::RunStatus;
use crate::workflow::parse;
use crate::{Config, Engine};

/// An engine with one webhook workflow of a prebuilt step, and its data.
async fn engine(configure: impl FnOnce(&mut Config)) -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.sandbox.max_instances = 4;
    configure(&mut config);
    let engine = Engine::start(config).await.unwrap();
    let workflow = json!({
        "id": "keep",
        "trigger": { "webhook": {} },
        "steps": [{ "id": "all", "uses": "builtin:filter", "with": { "conditions": [{ "value": "x", "op": "equals", "to": "x" }] } }],
    });
    engine
        .add(parse(&workflow.to_string()).unwrap(), dir.path())
        .await
        .unwrap();
    (engine, dir)
}

/// Sends `request` to the engine's router; its status, content type and
/// body.
async fn send(engine: &Engine, request: Request<Body>) -> (StatusCode, String, Vec<u8>) {
    let response = engine.router().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, content_type, body.to_vec())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> T {
    serde_json::from_slice(body).unwrap_or_else(|error| {
        panic!("{error}: {}", String::from_utf8_lossy(body));
    })
}

/// The `error` of a JSON error answer with `status`.
async fn refused(engine: &Engine, request: Request<Body>, status: StatusCode) -> String {
    let (actual, content_type, body) = send(engine, request).await;
    assert_eq!(actual, status, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "application/json");
    decode::<ErrorBody>(&body).error
}

#[tokio::test]
async fn an_event_is_answered_with_its_typed_run_and_listed() {
    let (engine, _dir) = engine(|_| {}).await;
    let post = Request::post("/hooks/keep")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"Email":"ada@example.com"}"#))
        .unwrap();
    let (status, _, body) = send(&engine, post).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let accepted: EventAccepted = decode(&body);
    assert_eq!(accepted.status, RunStatus::Queued);
    assert!(!accepted.duplicate);

    let (status, _, body) = send(&engine, get("/api/runs")).await;
    assert_eq!(status, StatusCode::OK);
    let runs: RunList = decode(&body);
    assert_eq!(runs.runs.len(), 1);
    assert_eq!(runs.runs[0].id, accepted.run_id);
    assert_eq!(runs.next_cursor, None);

    let (_, _, body) = send(&engine, get("/api/workflows")).await;
    let list: WorkflowList = decode(&body);
    let [WorkflowView::Ready(workflow)] = list.workflows.as_slice() else {
        panic!("one ready workflow: {list:?}");
    };
    assert_eq!(workflow.id, "keep");
    assert_eq!(workflow.trigger.kind, "webhook");
    assert_eq!(workflow.urls, ["/hooks/keep"]);
    engine.shutdown().await;
}

#[tokio::test]
async fn unknown_workflows_and_runs_are_404s_and_malformed_ids_400s() {
    let (engine, _dir) = engine(|_| {}).await;
    let post = Request::post("/hooks/nope").body(Body::empty()).unwrap();
    let error = refused(&engine, post, StatusCode::NOT_FOUND).await;
    assert_eq!(error, "no workflow `nope` is loaded");

    let unknown = "0190a2b4-0000-7000-8000-000000000000";
    let error = refused(
        &engine,
        get(&format!("/api/runs/{unknown}")),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error, format!("no run `{unknown}` is stored"));
    let replay = Request::post(format!("/api/runs/{unknown}/replay"))
        .body(Body::empty())
        .unwrap();
    refused(&engine, replay, StatusCode::NOT_FOUND).await;

    let error = refused(&engine, get("/api/runs/abc"), StatusCode::BAD_REQUEST).await;
    assert_eq!(error, "`abc` is not a run id");
    engine.shutdown().await;
}

#[tokio::test]
async fn a_runs_query_out_of_bounds_is_a_400_that_says_what_is_allowed() {
    let (engine, _dir) = engine(|_| {}).await;
    let error = refused(
        &engine,
        get("/api/runs?status=done"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        error.contains("queued, running, retrying, succeeded, failed"),
        "{error}"
    );
    let error = refused(&engine, get("/api/runs?cursor=x"), StatusCode::BAD_REQUEST).await;
    assert_eq!(error, "cursor: `x` is not a run id");
    let error = refused(&engine, get("/api/runs?limit=0"), StatusCode::BAD_REQUEST).await;
    assert_eq!(error, "limit is 1 to 1000");
    engine.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_needs_its_token_and_health_does_not() {
    let (engine, _dir) = engine(|config| config.admin_token = Some("s3cret".into())).await;
    let error = refused(&engine, get("/api/runs"), StatusCode::UNAUTHORIZED).await;
    assert!(error.contains("Authorization: Bearer"), "{error}");
    let wrong = Request::get("/metrics")
        .header(header::AUTHORIZATION, "Bearer nope")
        .body(Body::empty())
        .unwrap();
    refused(&engine, wrong, StatusCode::UNAUTHORIZED).await;
    let right = Request::get("/api/runs")
        .header(header::AUTHORIZATION, "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&engine, right).await.0, StatusCode::OK);
    assert_eq!(send(&engine, get("/healthz")).await.0, StatusCode::OK);
    engine.shutdown().await;
}

#[tokio::test]
async fn an_outbound_message_for_an_unknown_workflow_is_a_soap_fault() {
    let (engine, _dir) = engine(|_| {}).await;
    let post = Request::post("/salesforce/outbound/nope")
        .header(header::CONTENT_TYPE, "text/xml")
        .body(Body::from("<soapenv:Envelope/>"))
        .unwrap();
    let (status, content_type, body) = send(&engine, post).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("soapenv:Client"), "{body}");
    assert!(body.contains("no workflow `nope` is loaded"), "{body}");
    // A webhook workflow takes no Outbound Messages.
    let post = Request::post("/salesforce/outbound/keep")
        .header(header::CONTENT_TYPE, "text/xml")
        .body(Body::from("<soapenv:Envelope/>"))
        .unwrap();
    let (status, _, body) = send(&engine, post).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("not started by Outbound Messages")
    );
    engine.shutdown().await;
}
