use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gust_engine::model::RunId;

use gust_engine::Engine;
use gust_engine::store::RunQuery;
use gust_engine::trigger::webhook::sign;
use gust_tests::guests;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{FullDisk, Server, eventually};

fn workflow(id: &str, trigger: Value, steps: Value) -> Value {
    json!({ "id": id, "trigger": trigger, "steps": steps })
}

fn step(id: &str, with: Value) -> Value {
    json!({ "id": id, "uses": guests::MISBEHAVE, "with": with, "retry": { "max_attempts": 3, "backoff_ms": 10 } })
}

fn echo_workflow(id: &str, trigger: Value) -> Value {
    workflow(
        id,
        trigger,
        json!([step(
            "echo",
            json!({ "act": "echo", "lead": "${trigger.body}" })
        )]),
    )
}

#[tokio::test]
async fn a_webhook_is_acknowledged_then_run_with_every_step_recorded() {
    let server = Server::start(&[workflow(
        "two-steps",
        json!({ "webhook": {} }),
        json!([
            step(
                "first",
                json!({ "act": "echo", "email": "${trigger.body.Email}" })
            ),
            step(
                "second",
                json!({ "act": "echo", "from_first": "${steps.first.email}" })
            ),
        ]),
    )])
    .await;
    let response = server
        .post("/hooks/two-steps?source=web")
        .header("x-trace", "t-1")
        .json(&json!({ "Email": "ada@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let run_id_header = response.headers()["gust-run-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["run_id"], json!(run_id_header));
    assert_eq!(accepted["status"], "queued");

    let run = server.finished(&run_id_header).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["workflow"], "two-steps");
    assert_eq!(run["event"]["method"], "POST");
    assert_eq!(run["event"]["path"], "/hooks/two-steps");
    assert_eq!(run["event"]["query"], json!({ "source": "web" }));
    assert_eq!(run["event"]["headers"]["x-trace"], "t-1");
    assert_eq!(run["event"]["body"], json!({ "Email": "ada@example.com" }));
    let steps = run["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        steps[0]["input"],
        json!({ "act": "echo", "email": "ada@example.com" })
    );
    assert_eq!(steps[1]["output"]["from_first"], "ada@example.com");
    assert_eq!(steps[1]["attempts"].as_array().unwrap().len(), 1);
    assert!(steps[1]["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(steps[1]["finished_at"].is_string());
    assert_eq!(run["output"]["from_first"], "ada@example.com");
}

#[tokio::test]
async fn sync_webhooks_answer_with_the_final_output_or_the_failure() {
    let server = Server::start(&[
        echo_workflow("sync-echo", json!({ "webhook": { "respond": "sync" } })),
        workflow(
            "sync-fail",
            json!({ "webhook": { "respond": "sync" } }),
            json!([step("fail", json!({ "act": "fail" }))]),
        ),
    ])
    .await;
    let (status, output) = server.hook("sync-echo", json!({ "n": 7 })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(output, json!({ "act": "echo", "lead": { "n": 7 } }));

    let (status, answer) = server.hook("sync-fail", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        answer["error"],
        "step `fail` failed: bad input, do not retry"
    );
    let run = server.finished(answer["run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(
        run["steps"][0]["attempts"].as_array().unwrap().len(),
        1,
        "not retryable"
    );
}

#[tokio::test]
async fn a_run_a_filter_ended_early_succeeded() {
    let server = Server::start(&[workflow(
        "filtered",
        json!({ "webhook": {} }),
        json!([
            step("gate", json!({ "act": "stop" })),
            step("never", json!({ "act": "echo" }))
        ]),
    )])
    .await;
    let (_, accepted) = server.hook("filtered", json!({})).await;
    let run = server.finished(accepted["run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["stopped_by"], "gate");
    assert_eq!(run["steps"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn retries_back_off_then_a_run_out_of_attempts_fails_and_replays() {
    let flaky = |id: &str, succeed_on: u64| {
        workflow(
            id,
            json!({ "webhook": {} }),
            json!([step(
                "flaky",
                json!({ "act": "flaky", "succeed_on": succeed_on })
            )]),
        )
    };
    let server = Server::start(&[flaky("recovers", 3), flaky("gives-up", 5)]).await;

    let (_, accepted) = server.hook("recovers", json!({})).await;
    let run = server.finished(accepted["run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded");
    let attempts = run["steps"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0]["error"]["message"], "attempt 1 failed");
    let first: DateTime<Utc> = attempts[0]["started_at"].as_str().unwrap().parse().unwrap();
    let third: DateTime<Utc> = attempts[2]["started_at"].as_str().unwrap().parse().unwrap();
    assert!(
        (third - first).num_milliseconds() >= 15,
        "backoff waited between attempts"
    );

    let (_, accepted) = server.hook("gives-up", json!({})).await;
    let failed_id = accepted["run_id"].as_str().unwrap().to_owned();
    let run = server.finished(&failed_id).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"], "step `flaky` failed: attempt 3 failed");
    let (_, dead) = server.get("/api/runs?status=failed").await;
    assert_eq!(dead["runs"].as_array().unwrap().len(), 1);
    assert_eq!(dead["runs"][0]["id"], json!(failed_id));

    // The step's state carried on, so the replay's attempts 4 and 5 succeed.
    let replay = server
        .post(&format!("/api/runs/{failed_id}/replay"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::ACCEPTED);
    let replay: Value = replay.json().await.unwrap();
    let run = server.finished(replay["run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["replay_of"], json!(failed_id));
    assert_eq!(run["event"]["body"], json!({}));
    let metrics = server.text("/metrics").await;
    assert!(
        metrics.contains(r#"gust_step_retries_total{workflow="recovers",step="flaky"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"gust_runs_finished_total{workflow="gives-up",status="failed"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_idempotency_key_runs_its_event_once() {
    let server = Server::start(&[echo_workflow("once", json!({ "webhook": {} }))]).await;
    let send = || {
        server
            .post("/hooks/once")
            .header("Idempotency-Key", "order-42")
            .json(&json!({ "n": 1 }))
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    let second = send().await.unwrap();
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["duplicate"], false);
    assert_eq!(second["duplicate"], true);
    assert_eq!(first["run_id"], second["run_id"]);
    server.finished(first["run_id"].as_str().unwrap()).await;
    assert_eq!(server.run_count().await, 1);
    let metrics = server.text("/metrics").await;
    assert!(
        metrics.contains(r#"gust_events_duplicate_total{workflow="once"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_requests_get_a_clear_error_and_store_nothing() {
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "hunter2\n").unwrap();
    let secret_ref = format!("file:{}", secret.path().display());
    let server = Server::start_with(
        &[
            echo_workflow("open", json!({ "webhook": {} })),
            echo_workflow("bearer", json!({ "webhook": { "secret": secret_ref } })),
            echo_workflow(
                "signed",
                json!({ "webhook": { "hmac_secret": secret_ref } }),
            ),
            echo_workflow("by-hand", json!({ "manual": {} })),
        ],
        |config| config.max_body_bytes = 1024,
        None,
    )
    .await;
    let hook = |workflow: &str| server.post(&format!("/hooks/{workflow}"));
    let cases = [
        (
            "malformed JSON",
            hook("open")
                .header("content-type", "application/json")
                .body("{\"a\": ")
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "the body is not valid JSON: EOF while parsing",
        ),
        (
            "unknown workflow",
            hook("nope").json(&json!({})).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "no workflow `nope` is loaded",
        ),
        (
            "not a webhook",
            hook("by-hand").json(&json!({})).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "workflow `by-hand` is not started by a webhook",
        ),
        (
            "no secret",
            hook("bearer").json(&json!({})).send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "this webhook needs `Authorization: Bearer <secret>`",
        ),
        (
            "wrong secret",
            hook("bearer")
                .bearer_auth("hunter3")
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "the bearer secret is wrong",
        ),
        (
            "no signature",
            hook("signed").json(&json!({})).send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "this webhook needs an `X-Gust-Signature",
        ),
        (
            "bad signature",
            hook("signed")
                .header("x-gust-signature", sign(b"hunter2", b"{}"))
                .body("{\"a\":1}")
                .send()
                .await
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "the signature does not match the body",
        ),
        (
            "too large",
            hook("open")
                .json(&json!({ "pad": "x".repeat(2048) }))
                .send()
                .await
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "length limit exceeded",
        ),
        (
            "binary",
            hook("open")
                .body(vec![0xff, 0xfe, 0x00])
                .send()
                .await
                .unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body is not UTF-8 text",
        ),
        (
            "long idempotency key",
            hook("open")
                .header("idempotency-key", "k".repeat(300))
                .json(&json!({}))
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "the Idempotency-Key is longer than 255 bytes",
        ),
    ];
    for (case, response, status, message) in cases {
        assert_eq!(response.status(), status, "{case}");
        let body: Value = response.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{case}: {error}");
    }
    assert_eq!(server.run_count().await, 0, "nothing was stored");

    // The right credentials are let in.
    let ok = hook("bearer")
        .bearer_auth("hunter2")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    let body = br#"{"signed":true}"#;
    let ok = hook("signed")
        .header("x-gust-signature", sign(b"hunter2", body))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::ACCEPTED);
    assert_eq!(server.run_count().await, 2);
}

#[tokio::test]
async fn a_store_that_cannot_write_answers_503_and_acknowledges_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FullDisk::new(
        crate::support::open_store(dir.path()).await.unwrap(),
    ));
    let server = Server::start_with(
        &[echo_workflow("full", json!({ "webhook": {} }))],
        |_| {},
        Some(store),
    )
    .await;
    let (status, body) = server.hook("full", json!({ "n": 1 })).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("No space left on device"),
        "{body}"
    );
    assert!(body.get("run_id").is_none());
    assert_eq!(server.run_count().await, 0);
}

#[tokio::test]
async fn the_admin_api_lists_workflows_and_pages_runs_behind_its_token() {
    let server = Server::start_with(
        &[echo_workflow("paged", json!({ "webhook": {} }))],
        |config| config.admin_token = Some("admin-t0ken".into()),
        None,
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let (status, accepted) = server.hook("paged", json!({ "n": n })).await;
        assert_eq!(status, StatusCode::ACCEPTED, "webhooks need no admin token");
        ids.push(accepted["run_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        server
            .engine
            .wait(id.parse().unwrap(), Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
    }
    let admin = |path: &str| {
        server
            .client
            .get(format!("{}{path}", server.base))
            .bearer_auth("admin-t0ken")
            .send()
    };

    assert_eq!(server.get("/api/runs").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(server.get("/metrics").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        server.get("/healthz").await,
        (StatusCode::OK, json!({ "status": "ok" }))
    );

    let workflows: Value = admin("/api/workflows").await.unwrap().json().await.unwrap();
    assert_eq!(workflows["workflows"][0]["id"], "paged");
    assert_eq!(workflows["workflows"][0]["state"], "ready");
    assert_eq!(
        workflows["workflows"][0]["urls"][0],
        format!("{}/hooks/paged", server.base)
    );

    let first: Value = admin("/api/runs?workflow=paged&limit=2")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page_ids = |page: &Value| -> Vec<String> {
        page["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(page_ids(&first), vec![ids[4].clone(), ids[3].clone()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest: Value = admin(&format!(
        "/api/runs?workflow=paged&limit=10&cursor={cursor}"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        page_ids(&rest),
        vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(rest["next_cursor"], Value::Null);

    let bad = admin("/api/runs?status=sleeping").await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let missing = admin(&format!("/api/runs/{}", RunId::new())).await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let metrics = admin("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"gust_events_accepted_total{workflow="paged"} 5"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("gust_step_attempt_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains("gust_queue_depth 0"), "{metrics}");
    let flushes = metrics
        .lines()
        .find_map(|line| line.strip_prefix("gust_store_flushes "))
        .and_then(|value| value.parse::<u64>().ok());
    assert!(flushes.is_some_and(|flushes| flushes >= 1), "{metrics}");
}

#[tokio::test]
async fn shutdown_lets_a_step_in_flight_finish() {
    let server = Server::start(&[workflow(
        "slow",
        json!({ "webhook": {} }),
        json!([{ "id": "nap", "uses": guests::MISBEHAVE, "with": { "act": "record", "key": "k", "sleep_ms": 300 } }]),
    )])
    .await;
    let (_, accepted) = server.hook("slow", json!({})).await;
    let id: RunId = accepted["run_id"].as_str().unwrap().parse().unwrap();
    eventually("the run starting", Duration::from_secs(30), || async {
        let run = server.engine.run_detail(id).await.unwrap().unwrap().run;
        (run.status.as_str() == "running").then_some(())
    })
    .await;
    server.engine.shutdown().await;
    let run = server.engine.run_detail(id).await.unwrap().unwrap();
    assert_eq!(run.run.status.as_str(), "succeeded");
    assert_eq!(run.steps[0].output, Some(json!({ "key": "k", "calls": 1 })));
}

#[tokio::test]
async fn an_embedder_mounts_the_routes_in_its_own_app_and_submits_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(crate::support::config(dir.path()))
        .await
        .unwrap();
    let definition = echo_workflow("embedded", json!({ "webhook": {} }));
    let workflow = gust_engine::workflow::parse(&definition.to_string()).unwrap();
    engine
        .add_workflow(&gust_engine::workflow::WorkflowFile {
            path: dir.path().join("embedded.json"),
            workflow,
        })
        .await
        .unwrap();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "my service" }))
        .nest("/gust", engine.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());

    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(&base)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "my service"
    );
    let over_http = client
        .post(format!("{base}/gust/hooks/embedded"))
        .json(&json!({ "via": "http" }))
        .send()
        .await
        .unwrap();
    assert_eq!(over_http.status(), StatusCode::ACCEPTED);

    let accepted = engine
        .submit("embedded", json!({ "body": { "via": "code" } }), None)
        .await
        .unwrap();
    let ended = engine
        .wait(accepted.run().id, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status.as_str(), "succeeded");
    assert_eq!(
        ended.output,
        Some(json!({ "act": "echo", "lead": { "via": "code" } }))
    );
    let runs = engine
        .runs(&RunQuery {
            limit: 10,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(runs.runs.len(), 2);
    assert!(matches!(
        engine.submit("missing", json!({}), None).await,
        Err(gust_engine::SubmitError::UnknownWorkflow(_))
    ));
    engine.shutdown().await;
}

#[tokio::test]
async fn a_workflow_concurrency_limit_runs_its_runs_one_at_a_time() {
    let server = Server::start(&[json!({
        "id": "single-file",
        "trigger": { "webhook": {} },
        "concurrency": 1,
        "steps": [{ "id": "nap", "uses": guests::MISBEHAVE, "with": { "act": "record", "key": "k", "sleep_ms": 40 } }],
    })])
    .await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (_, accepted) = server.hook("single-file", json!({})).await;
        ids.push(accepted["run_id"].as_str().unwrap().to_owned());
    }
    let mut windows = Vec::new();
    for id in &ids {
        let run = server.finished(id).await;
        let step = &run["steps"][0];
        let started: DateTime<Utc> = step["started_at"].as_str().unwrap().parse().unwrap();
        let finished: DateTime<Utc> = step["finished_at"].as_str().unwrap().parse().unwrap();
        windows.push((started, finished));
    }
    windows.sort();
    for pair in windows.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlapped: {pair:?}");
    }
}

#[tokio::test]
async fn finished_runs_past_retention_are_pruned() {
    let server = Server::start_with(
        &[echo_workflow("short-lived", json!({ "webhook": {} }))],
        |config| config.retention = Some(Duration::from_secs(1)),
        None,
    )
    .await;
    let (_, accepted) = server.hook("short-lived", json!({})).await;
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    server.finished(&run_id).await;
    eventually("the run pruned", Duration::from_secs(10), || async {
        let status = server.get(&format!("/api/runs/{run_id}")).await.0;
        (status == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    assert_eq!(server.run_count().await, 0);
}

#[tokio::test]
async fn a_step_cut_off_by_the_shutdown_bound_resumes_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let workflow_dir = dir.path().join("workflows");
    std::fs::create_dir(&workflow_dir).unwrap();
    let definition = json!({
        "id": "long",
        "trigger": { "webhook": {} },
        "steps": [
            { "id": "quick", "uses": guests::MISBEHAVE, "with": { "act": "record", "key": "k" } },
            { "id": "slow", "uses": guests::MISBEHAVE, "with": { "act": "record", "key": "k", "sleep_ms": 1500 } },
        ],
    });
    std::fs::write(workflow_dir.join("long.json"), definition.to_string()).unwrap();
    let config = || {
        let mut config = crate::support::config(dir.path().join("data"));
        config.shutdown_grace = Duration::from_millis(100);
        config
    };
    let run_id = {
        let engine = Engine::start(config()).await.unwrap();
        engine.load_dir(&workflow_dir).await.unwrap();
        let accepted = engine.submit("long", json!({}), None).await.unwrap();
        let id = accepted.run().id;
        eventually("the quick step ended", Duration::from_secs(30), || async {
            let steps = engine.run_detail(id).await.unwrap().unwrap().steps;
            (!steps.is_empty()).then_some(())
        })
        .await;
        engine.shutdown().await;
        let cut = engine.run_detail(id).await.unwrap().unwrap();
        assert_eq!(
            cut.run.status.as_str(),
            "queued",
            "cut off, it waits to resume"
        );
        assert_eq!(cut.steps.len(), 1, "only the quick step finished");
        id
    };
    let engine = Engine::start(config()).await.unwrap();
    engine.load_dir(&workflow_dir).await.unwrap();
    let ended = engine
        .wait(run_id, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.status.as_str(), "succeeded");
    let run = engine.run_detail(run_id).await.unwrap().unwrap();
    assert_eq!(
        run.steps[0].output,
        Some(json!({ "key": "k", "calls": 1 })),
        "the finished step did not run again"
    );
    assert_eq!(
        run.steps[1].output,
        Some(json!({ "key": "k", "calls": 1 })),
        "the cut-off attempt left no state"
    );
    engine.shutdown().await;
}

#[tokio::test]
async fn a_sync_webhook_past_its_timeout_answers_202_with_the_run_id() {
    let server = Server::start_with(
        &[workflow(
            "slow-sync",
            json!({ "webhook": { "respond": "sync" } }),
            json!([{ "id": "nap", "uses": guests::MISBEHAVE, "with": { "act": "record", "key": "k", "sleep_ms": 600 } }]),
        )],
        |config| config.sync_timeout = Duration::from_millis(100),
        None,
    )
    .await;
    let (status, answer) = server.hook("slow-sync", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run = server.finished(answer["run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded");
}

#[tokio::test]
async fn an_invalid_workflow_file_is_listed_with_its_errors_and_the_others_load() {
    let server = Server::start(&[echo_workflow("fine", json!({ "webhook": {} }))]).await;
    let dir = server.dir.path().join("workflows");
    std::fs::write(
        dir.join("broken.json"),
        r#"{"id": "broken", "trigger": {"webhook": {}}, "steps": []}"#,
    )
    .unwrap();
    let set = server.engine.load_dir(&dir).await.unwrap();
    assert_eq!(set.ready.keys().collect::<Vec<_>>(), vec!["fine"]);
    let (_, listed) = server.get("/api/workflows").await;
    let invalid = &listed["workflows"][1];
    assert_eq!(invalid["state"], "invalid");
    assert!(invalid["source"].as_str().unwrap().ends_with("broken.json"));
    assert_eq!(
        invalid["errors"][0],
        "steps: a workflow needs at least one step"
    );
    let (status, _) = server.hook("broken", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn gust_serve_runs_inline_scripts_for_webhooks_keeping_their_state_across_runs() {
    let workflow = json!({
        "id": "scripted",
        "trigger": { "webhook": {} },
        "steps": [
            { "id": "gate", "language": "javascript",
              "code": "import { stop } from \"gust\";\nexport default function run(input, ctx) {\n  if (input.body.skip) return stop({ skipped: true });\n  return { email: String(input.body.email).toLowerCase() };\n}\n" },
            { "id": "count", "language": "python",
              "code": "def run(input, ctx):\n    seen = ctx.state.get('seen', 0) + 1\n    ctx.state.set('seen', seen)\n    return {'email': input['email'], 'seen': seen}\n",
              "retry": { "max_attempts": 1 } }
        ]
    });
    let server = Server::start_with(
        &[workflow],
        |config| config.sandbox.cache_dir = Some(gust_tests::component_cache()),
        None,
    )
    .await;
    let mut outputs = Vec::new();
    for body in [
        json!({ "email": "Ada@Example.com" }),
        json!({ "skip": true }),
        json!({ "email": "GRACE@example.com" }),
    ] {
        let (status, accepted) = server.hook("scripted", body).await;
        assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{accepted}");
        let run = server.finished(accepted["run_id"].as_str().unwrap()).await;
        assert_eq!(run["status"], "succeeded", "{run}");
        outputs.push(run["output"].clone());
    }
    assert_eq!(
        outputs,
        [
            json!({ "email": "ada@example.com", "seen": 1 }),
            json!({ "skipped": true }),
            json!({ "email": "grace@example.com", "seen": 2 }),
        ]
    );
}
