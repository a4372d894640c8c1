use std::sync::Arc;

use gust_engine::model::{RunStatus, StepStatus};
use gust_engine::runtime::{LocalRunner, RunReport};
use gust_engine::salesforce::NoConnection;
use gust_engine::store::MemoryStateStore;
use gust_engine::workflow::WorkflowFile;
use gust_tests::{guests, sandbox};
use serde_json::{Value, json};

/// Writes `workflow` to a temporary file and loads it.
fn workflow(workflow: Value) -> (tempfile::TempDir, WorkflowFile) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workflow.json");
    std::fs::write(&path, workflow.to_string()).unwrap();
    let file = WorkflowFile::load(&path).unwrap();
    (dir, file)
}

/// Loads, prepares and runs `definition` on `event`.
async fn run(definition: Value, event: Value) -> RunReport {
    let (_dir, file) = workflow(definition);
    let runner = runner();
    let prepared = runner.prepare(&file).unwrap();
    runner.run(&prepared, event, |_| {}).await
}

fn runner() -> LocalRunner {
    LocalRunner::new(
        sandbox(),
        Arc::new(NoConnection),
        Arc::new(MemoryStateStore::default()),
    )
}

#[tokio::test]
async fn references_carry_the_event_and_earlier_outputs_into_later_steps() {
    let (_dir, file) = workflow(json!({
        "id": "chain",
        "trigger": { "manual": {} },
        "steps": [
            { "id": "first", "uses": guests::MISBEHAVE,
              "with": { "act": "echo", "size": "${trigger.body.size}", "greeting": "hi ${trigger.body.name}" } },
            { "id": "second", "uses": guests::MISBEHAVE,
              "with": { "act": "echo", "from_first": "${steps.first.size}", "whole": "${steps.first}" } },
            { "id": "third", "uses": guests::MISBEHAVE }
        ]
    }));
    let runner = runner();
    let prepared = runner.prepare(&file).unwrap();
    let mut seen = Vec::new();
    let event = json!({ "body": { "size": 42, "name": "Ada" } });
    let report = runner
        .run(&prepared, event, |step| seen.push(step.step.clone()))
        .await;
    assert_eq!(seen, ["first", "second", "third"]);
    assert_eq!(report.status, RunStatus::Succeeded);
    let first = json!({ "act": "echo", "size": 42, "greeting": "hi Ada" });
    assert_eq!(report.steps[0].output, Some(first.clone()));
    let second = json!({ "act": "echo", "from_first": 42, "whole": first });
    assert_eq!(report.steps[1].input, second);
    // Without `with`, a step receives the previous step's output.
    assert_eq!(report.steps[2].input, second);
    assert_eq!(report.output, second);
}

#[tokio::test]
async fn a_filter_that_does_not_match_ends_the_run_successfully() {
    let (_dir, file) = workflow(json!({
        "id": "filtered",
        "trigger": { "webhook": {} },
        "steps": [
            { "id": "only-web", "uses": "builtin:filter",
              "with": { "conditions": [{ "value": "${trigger.body.source}", "op": "equals", "to": "web" }] } },
            { "id": "never", "uses": guests::MISBEHAVE, "with": { "act": "panic" } }
        ]
    }));
    let runner = runner();
    let prepared = runner.prepare(&file).unwrap();
    let report = runner
        .run(&prepared, json!({ "body": { "source": "phone" } }), |_| {})
        .await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(report.stopped_by.as_deref(), Some("only-web"));
    assert_eq!(report.steps.len(), 1);
    assert_eq!(report.steps[0].status, StepStatus::Stopped);
    assert_eq!(report.output, json!({ "matched": false, "failed": [0] }));

    let report = runner
        .run(&prepared, json!({ "body": { "source": "web" } }), |_| {})
        .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.steps.len(), 2);
}

#[tokio::test]
async fn the_field_mapper_and_filter_prebuilt_steps_run_from_the_engine() {
    let event = json!({ "body": { "mail": "ada@acme.com", "who": { "last": "Lovelace" } } });
    let report = run(json!({
        "id": "mapped",
        "trigger": { "webhook": {} },
        "steps": [
            { "id": "map", "uses": "builtin:field-mapper",
              "with": { "relation": "Contact", "id_field": "Email",
                        "properties": [{ "from": "mail", "to": "Email" }, { "from": "who.last", "to": "LastName" }],
                        "record": "${trigger.body}" } },
            { "id": "big", "uses": "builtin:filter",
              "with": { "conditions": [{ "value": "${steps.map.record.LastName}", "op": "starts_with", "to": "Love" }],
                        "pass": "${steps.map}" } }
        ]
    }), event).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    assert_eq!(
        report.output,
        json!({ "sobject": "Contact", "id_field": "Email", "id": "ada@acme.com",
                "record": { "Email": "ada@acme.com", "LastName": "Lovelace" } })
    );
}

#[tokio::test]
async fn a_retryable_failure_is_retried_until_it_succeeds() {
    let report = run(json!({
        "id": "flaky",
        "trigger": { "manual": {} },
        "steps": [
            { "id": "flaky", "uses": guests::MISBEHAVE, "with": { "act": "flaky", "succeed_on": 3 },
              "retry": { "max_attempts": 3, "backoff_ms": 1, "max_backoff_ms": 5 } }
        ]
    }), json!({})).await;
    assert_eq!(report.status, RunStatus::Succeeded);
    let step = &report.steps[0];
    assert_eq!(step.output, Some(json!({ "attempt": 3 })));
    let errors: Vec<Option<String>> = step
        .attempts
        .iter()
        .map(|a| a.error.as_ref().map(|e| e.message.clone()))
        .collect();
    assert_eq!(
        errors,
        [
            Some("attempt 1 failed".into()),
            Some("attempt 2 failed".into()),
            None
        ]
    );
}

#[tokio::test]
async fn a_step_that_exhausts_its_attempts_fails_the_run() {
    let report = run(json!({
        "id": "exhausted",
        "trigger": { "manual": {} },
        "steps": [
            { "id": "flaky", "uses": guests::MISBEHAVE, "with": { "act": "flaky", "succeed_on": 5 },
              "retry": { "max_attempts": 2, "backoff_ms": 1, "max_backoff_ms": 5 } },
            { "id": "after", "uses": guests::MISBEHAVE }
        ]
    }), json!({})).await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.steps.len(), 1);
    assert_eq!(report.steps[0].attempts.len(), 2);
    assert_eq!(
        report.steps[0].error.as_ref().unwrap().message,
        "attempt 2 failed"
    );
}

#[tokio::test]
async fn a_non_retryable_failure_is_not_retried() {
    let report = run(
        json!({
            "id": "final",
            "trigger": { "manual": {} },
            "steps": [
                { "id": "fail", "uses": guests::MISBEHAVE, "with": { "act": "fail" },
                  "retry": { "max_attempts": 5, "backoff_ms": 1 } }
            ]
        }),
        json!({}),
    )
    .await;
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(report.steps[0].attempts.len(), 1);
    assert_eq!(
        report.steps[0].error.as_ref().unwrap().message,
        "bad input, do not retry"
    );
}

#[test]
fn modules_that_cannot_run_are_reported_at_their_step() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let (_wf_dir, mut file) = workflow(json!({
        "id": "broken-modules",
        "trigger": { "manual": {} },
        "steps": [
            { "id": "missing", "uses": "nowhere/step.wasm" },
            { "id": "core", "uses": dir.path().join("core.wasm").to_str().unwrap() },
            { "id": "other-world", "uses": guests::WRONG_WORLD },
            { "id": "fine", "uses": "builtin:filter" },
            { "id": "fuel", "uses": "builtin:filter", "fuel": 1000 }
        ]
    }));
    let runner = LocalRunner::new(
        Arc::new(
            gust_engine::wasm::Sandbox::new(gust_engine::wasm::SandboxConfig::default()).unwrap(),
        ),
        Arc::new(NoConnection),
        Arc::new(MemoryStateStore::default()),
    );
    file.path = std::path::PathBuf::from("/workflows/broken.json");
    let errors = runner
        .prepare(&file)
        .err()
        .expect("the workflow is refused");
    let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(rendered.len(), 4, "{rendered:#?}");
    assert!(rendered[0].starts_with(
        "steps[0].uses: `nowhere/step.wasm`: cannot read the module /workflows/nowhere/step.wasm:"
    ), "{}", rendered[0]);
    assert!(rendered[1].ends_with(
        "a core WebAssembly module, not a component: build the step for the wasm32-wasip2 target"
    ), "{}", rendered[1]);
    assert!(
        rendered[2].starts_with("steps[2].uses: ")
            && rendered[2].contains("does not export the gust:step world"),
        "{}",
        rendered[2]
    );
    assert_eq!(
        rendered[3],
        "steps[4].fuel: this Gust runs without fuel metering; remove `fuel` or enable metering"
    );
}
