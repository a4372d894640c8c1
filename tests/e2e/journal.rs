//! The Salesforce call journal against sf-emulator, whose request log shows
//! what reached it: a step cut off by SIGKILL or a failure and run again
//! sends no call twice, a write whose answer was lost comes back as
//! GUST_OUTCOME_UNKNOWN, a Bulk API 2.0 write follows its job, and a failed
//! run resumed after its data is fixed writes nothing again.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sf_emulator::faults::{Fault, FaultKind};

use crate::support::{
    FullDisk, Process, Server, Sf, eventually, run_locally, with_erp_id, write_workflow,
};

/// A workflow `id`, started by a webhook, of one `misbehave` step running
/// the script `calls` with Lead, Contact and Account granted.
fn script(id: &str, calls: Value) -> Value {
    json!({
        "id": id,
        "trigger": { "webhook": {} },
        "steps": [{
            "id": "write",
            "uses": gust_tests::guests::MISBEHAVE,
            "with": { "act": "calls", "calls": calls },
            "permissions": { "salesforce": { "read": ["Lead", "Account"], "write": ["Lead", "Contact", "Account"] } },
            "retry": { "max_attempts": 3, "backoff_ms": 50 }
        }]
    })
}

fn lead(name: &str) -> Value {
    json!({ "create": "Lead", "record": { "LastName": name, "Company": "Acme" } })
}

/// How many Leads named `name` the emulator holds.
fn leads_named(sf: &Sf, name: &str) -> usize {
    records_with(sf, "Lead", "LastName", name)
}

/// How many records of `object` have `field` equal to `value`.
fn records_with(sf: &Sf, object: &str, field: &str, value: &str) -> usize {
    let org = sf.emulator().org();
    let object = org.object(object).unwrap();
    org.records(object, false)
        .filter(|record| record.get(field).and_then(Value::as_str) == Some(value))
        .count()
}

/// The calls of attempt `attempt` (from 1) of the run's only step.
fn calls(run: &Value, attempt: usize) -> &Vec<Value> {
    run["steps"][0]["attempts"][attempt - 1]["calls"]
        .as_array()
        .unwrap_or_else(|| panic!("no calls in attempt {attempt}: {run:#}"))
}

/// The `replayed` flags of `calls`.
fn replayed(calls: &[Value]) -> Vec<bool> {
    calls.iter().map(|call| call["replayed"] == true).collect()
}

/// Every message the run's only step logged in attempt `attempt`.
fn logs(run: &Value, attempt: usize) -> String {
    run["steps"][0]["attempts"][attempt - 1]["logs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|line| line["message"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_retried_step_sends_the_calls_before_its_failure_once() {
    let sf = Sf::start().await;
    // The Contact create fails past the client's own retries, so the step
    // fails and the workflow retries it.
    sf.emulator().inject(Fault {
        path: "/sobjects/Contact".to_owned(),
        method: Some(reqwest::Method::POST),
        kind: FaultKind::UnableToLockRow,
        times: Some(6),
    });
    let workflow = script(
        "retried",
        json!([lead("First"), lead("Second"), { "create": "Contact", "record": { "LastName": "Third" } }]),
    );
    let server = Server::against(&sf, &[workflow], None).await;
    let (status, accepted) = server.hook("retried", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run = server.finished(accepted["run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");

    assert_eq!(sf.count("POST /services/data/v60.0/sobjects/Lead "), 2);
    assert_eq!(
        (leads_named(&sf, "First"), leads_named(&sf, "Second")),
        (1, 1)
    );
    let first = calls(&run, 1);
    assert_eq!(replayed(first), [false, false, false]);
    assert_eq!(first[2]["outcome"]["error_code"], "UNABLE_TO_LOCK_ROW");
    let second = calls(&run, 2);
    assert_eq!(replayed(second), [true, true, false]);
    assert_eq!(
        second[0]["outcome"],
        json!({ "result": "succeeded", "status": 201, "bytes": 20 })
    );
    assert_eq!(second[0]["record_ids"], first[0]["record_ids"]);
    assert_eq!(second[2]["outcome"]["status"], 201);
    assert_eq!(run["output"]["results"][0], first[0]["record_ids"][0]);
}

#[tokio::test]
async fn a_step_that_takes_another_path_ends_the_replay_and_says_where() {
    let sf = Sf::start().await;
    let workflow = script(
        "another-path",
        json!([
            lead("Same"),
            { "create": "Lead", "record": { "LastName": "Before", "Company": "Acme" }, "attempt": 1 },
            { "fail": "the first attempt fails", "attempt": 1 },
            { "create": "Lead", "record": { "LastName": "After", "Company": "Acme" }, "attempt": 2 },
        ]),
    );
    let server = Server::against(&sf, &[workflow], None).await;
    let (_, accepted) = server.hook("another-path", json!({})).await;
    let run = server.finished(accepted["run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");

    assert_eq!(sf.count("POST /services/data/v60.0/sobjects/Lead "), 3);
    assert_eq!(leads_named(&sf, "Same"), 1);
    assert_eq!(replayed(calls(&run, 2)), [true, false]);
    let logs = logs(&run, 2);
    assert!(
        logs.contains("Call 2 (create Lead) was made with other arguments than the earlier execution's (create Lead): the replay of the journal ends here"),
        "{logs}"
    );
}

/// Posts an empty event to `workflow`'s hook on `base`; returns the run id.
async fn start_run(base: &str, workflow: &str) -> String {
    let answer = reqwest::Client::new()
        .post(format!("{base}/hooks/{workflow}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let body: Value = answer.json().await.unwrap();
    body["run_id"].as_str().unwrap().to_owned()
}

/// The run once it has ended, from the admin API.
async fn ended(base: &str, run: &str) -> Value {
    let client = reqwest::Client::new();
    eventually("the run to end", Duration::from_secs(60), || async {
        let url = format!("{base}/api/runs/{run}");
        let detail: Value = client.get(url).send().await.ok()?.json().await.ok()?;
        matches!(detail["status"].as_str(), Some("succeeded" | "failed")).then_some(detail)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_killed_between_its_creates_sends_each_create_once_after_a_restart() {
    let sf = Sf::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (workflows, data) = (dir.path().join("workflows"), dir.path().join("data"));
    let pause = json!({ "sleep_ms": 1_500 });
    write_workflow(
        &workflows,
        &script(
            "killed",
            json!([lead("One"), pause, lead("Two"), pause, lead("Three")]),
        ),
    );
    let server = Process::start_against(&sf, &workflows, &data, &[]);
    let run = start_run(&server.base, "killed").await;
    let creates = "POST /services/data/v60.0/sobjects/Lead ";
    eventually("the second create", Duration::from_secs(30), || async {
        (sf.count(creates) == 2).then_some(())
    })
    .await;
    // Killed in the second pause.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();

    let server = Process::start_against(&sf, &workflows, &data, &[]);
    let detail = ended(&server.base, &run).await;
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert_eq!(detail["status"], "succeeded", "{detail:#}");
    assert_eq!(sf.count(creates), 3, "{:#?}", sf.log());
    for name in ["One", "Two", "Three"] {
        assert_eq!(leads_named(&sf, name), 1, "Leads named {name}");
    }
    // The attempt cut off left no record; the one after the restart
    // replayed the first two creates.
    assert_eq!(replayed(calls(&detail, 1)), [true, true, false]);
    // The store keeps no access token (nor the connected app's secret).
    let stored = crate::support::store_bytes(&data);
    let holds = |needle: &[u8]| stored.windows(needle.len()).any(|window| window == needle);
    assert!(!holds(b"!AQ0AQ"), "an access token in the store");
    assert!(!holds(sf_emulator::DEFAULT_CLIENT_SECRET.as_bytes()));
}

/// An emulator whose Account has the unique external id `Erp_Id__c`.
async fn erp_emulator() -> Sf {
    Sf::start_with(with_erp_id(sf_emulator::Config::default())).await
}

/// Holds back the answer to the next `method` request on `path` long
/// enough for the test to kill Gust after Salesforce carried it out.
fn lose_next_answer(sf: &Sf, method: reqwest::Method, path: &str) {
    sf.emulator().inject(Fault {
        path: path.to_owned(),
        method: Some(method),
        kind: FaultKind::SlowAnswer { ms: 3_000 },
        times: Some(1),
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_was_lost_is_unknown_to_a_create_and_sent_again_as_an_upsert() {
    let sf = erp_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (workflows, data) = (dir.path().join("workflows"), dir.path().join("data"));
    let mut workflow = script(
        "in-flight",
        json!([{
            "create": "Lead",
            "record": { "LastName": "Once", "Company": "Acme", "Email": "once@example.com" },
            "check": "SELECT Id FROM Lead WHERE Email = 'once@example.com'"
        }]),
    );
    let mut upsert = workflow["steps"][0].clone();
    upsert["id"] = json!("upsert");
    upsert["with"]["calls"] = json!([{
        "upsert": "Account", "field": "Erp_Id__c", "id": "E-7", "record": { "Name": "Acme" }
    }]);
    workflow["steps"].as_array_mut().unwrap().push(upsert);
    write_workflow(&workflows, &workflow);
    lose_next_answer(&sf, reqwest::Method::POST, "/sobjects/Lead");
    lose_next_answer(
        &sf,
        reqwest::Method::PATCH,
        "/sobjects/Account/Erp_Id__c/E-7",
    );

    // Killed after Salesforce created the Lead, before its answer came.
    let server = Process::start_against(&sf, &workflows, &data, &[]);
    let run = start_run(&server.base, "in-flight").await;
    eventually("the Lead created", Duration::from_secs(30), || async {
        (records_with(&sf, "Lead", "LastName", "Once") == 1).then_some(())
    })
    .await;
    server.kill();
    // Killed again after Salesforce upserted the Account, before its answer.
    let server = Process::start_against(&sf, &workflows, &data, &[]);
    eventually("the Account upserted", Duration::from_secs(30), || async {
        (records_with(&sf, "Account", "Erp_Id__c", "E-7") == 1).then_some(())
    })
    .await;
    server.kill();

    let server = Process::start_against(&sf, &workflows, &data, &[]);
    let detail = ended(&server.base, &run).await;
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert_eq!(detail["status"], "succeeded", "{detail:#}");
    assert_eq!(records_with(&sf, "Lead", "LastName", "Once"), 1);
    assert_eq!(records_with(&sf, "Account", "Erp_Id__c", "E-7"), 1);

    // The create came back unknown; the step checked and found its Lead.
    let create = &detail["steps"][0]["attempts"][0];
    let outcome = &create["calls"][0]["outcome"];
    assert_eq!(outcome["error_code"], "GUST_OUTCOME_UNKNOWN", "{create:#}");
    let message = outcome["message"].as_str().unwrap();
    assert!(message.contains("call 1 (create Lead)"), "{message}");
    assert_eq!(create["calls"][1]["operation"], "query");
    let found = &detail["steps"][0]["output"]["results"][0];
    assert_eq!(found.as_str().map(str::len), Some(18), "{found}");
    // The upsert was sent again (it is not recorded before it goes), and
    // Salesforce updated the Account it had made: 200, not 201.
    let upsert = &detail["steps"][1]["attempts"][0];
    assert_eq!(upsert["calls"][0]["replayed"], false);
    assert_eq!(upsert["calls"][0]["outcome"]["status"], 200, "{upsert:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_write_killed_mid_job_finishes_on_the_same_job() {
    let sf = Sf::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (workflows, data) = (dir.path().join("workflows"), dir.path().join("data"));
    let records: Vec<Value> = (0..12)
        .map(|n| json!({ "LastName": format!("Bulk {n}"), "Company": "Acme" }))
        .collect();
    write_workflow(
        &workflows,
        &script(
            "bulk",
            json!([{ "insert_many": "Lead", "records": records }]),
        ),
    );
    // The first poll of the job is slow: the kill lands while the job runs.
    sf.emulator().inject(Fault {
        path: "/jobs/ingest/".to_owned(),
        method: Some(reqwest::Method::GET),
        kind: FaultKind::Latency { ms: 3_000 },
        times: Some(1),
    });
    let env = [("GUST_SF_BULK_THRESHOLD", "5")];
    let server = Process::start_against(&sf, &workflows, &data, &env);
    let run = start_run(&server.base, "bulk").await;
    eventually("the upload complete", Duration::from_secs(30), || async {
        (sf.count("PATCH /services/data/v60.0/jobs/ingest/") == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();

    let server = Process::start_against(&sf, &workflows, &data, &env);
    let detail = ended(&server.base, &run).await;
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
    assert_eq!(detail["status"], "succeeded", "{detail:#}");
    assert_eq!(
        sf.count("POST /services/data/v60.0/jobs/ingest "),
        1,
        "{:#?}",
        sf.log()
    );
    for n in 0..12 {
        assert_eq!(leads_named(&sf, &format!("Bulk {n}")), 1);
    }
    let results = detail["steps"][0]["output"]["results"][0]
        .as_array()
        .unwrap();
    assert_eq!(results.len(), 12);
    assert!(
        results.iter().all(|result| result["success"] == true),
        "{results:#?}"
    );
    assert!(
        logs(&detail, 1).contains("follows Bulk API 2.0 job"),
        "{detail:#}"
    );
}

#[tokio::test]
async fn a_failed_run_resumed_after_its_data_is_fixed_writes_nothing_twice() {
    let sf = erp_emulator().await;
    let taken = {
        let fields =
            serde_json::from_value(json!({ "Name": "Other", "Erp_Id__c": "E-1" })).unwrap();
        sf.emulator().org().create("Account", &fields).unwrap()
    };
    let workflow = script(
        "resumed",
        json!([
            lead("Resumed"),
            { "create": "Account", "record": { "Name": "Acme", "Erp_Id__c": "E-1" } },
        ]),
    );
    let server = Server::against(&sf, &[workflow], None).await;
    let (_, accepted) = server.hook("resumed", json!({})).await;
    let id = accepted["run_id"].as_str().unwrap().to_owned();
    let failed = server.finished(&id).await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert_eq!(
        calls(&failed, 1)[1]["outcome"]["error_code"],
        "DUPLICATE_VALUE"
    );

    // The data fixed in Salesforce, the run resumed where it failed.
    let fields = serde_json::from_value(json!({ "Erp_Id__c": "E-0" })).unwrap();
    sf.emulator()
        .org()
        .update("Account", &taken, &fields)
        .unwrap();
    let resume = || async {
        let path = format!("/api/runs/{id}/replay?resume=true");
        server.post(&path).send().await.unwrap()
    };
    let answer = resume().await;
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "run_id": id, "replay_of": id, "resumed": true })
    );
    let run = server.finished(&id).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");
    assert_eq!(run["error"], Value::Null);

    assert_eq!(sf.count("POST /services/data/v60.0/sobjects/Lead "), 1);
    assert_eq!(leads_named(&sf, "Resumed"), 1);
    assert_eq!(records_with(&sf, "Account", "Erp_Id__c", "E-1"), 1);
    assert_eq!(replayed(calls(&run, 2)), [true, false]);
    assert_eq!(run["steps"][0]["resumed_after"], 1);
    let (_, failed_list) = server.get("/api/runs?status=failed").await;
    assert_eq!(failed_list["runs"], json!([]));

    // Only a failed run is resumed.
    let again = resume().await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let error: Value = again.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("it is succeeded; only a failed run is resumed"),
        "{error}"
    );
}

#[tokio::test]
async fn a_write_the_store_cannot_record_first_is_not_sent() {
    let sf = Sf::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Room for the event, then the disk is full.
    let disk = Arc::new(FullDisk::after(
        crate::support::open_store(dir.path()).await.unwrap(),
        1,
    ));
    let server = Server::against(
        &sf,
        &[script("full", json!([lead("Never")]))],
        Some(disk.clone()),
    )
    .await;
    let (status, _) = server.hook("full", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(disk.is_full());
    eventually("the step's attempt", Duration::from_secs(30), || async {
        let metrics = server.text("/metrics").await;
        metrics
            .lines()
            .any(|line| {
                line.starts_with("gust_step_attempt_duration_seconds_count") && line.ends_with(" 1")
            })
            .then_some(())
    })
    .await;
    assert_eq!(sf.count("/sobjects/Lead"), 0, "{:#?}", sf.log());
    assert_eq!(leads_named(&sf, "Never"), 0);
}

#[tokio::test]
async fn gust_run_journals_in_memory_so_a_retried_step_creates_once() {
    let sf = Sf::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = write_workflow(
        dir.path(),
        &script(
            "local",
            json!([lead("Local"), { "fail": "the first attempt fails", "attempt": 1 }]),
        ),
    );
    let report = run_locally(&sf, &path, json!({})).await;
    assert_eq!(report.status, gust_engine::model::RunStatus::Succeeded);
    let attempts = &report.steps[0].attempts;
    assert_eq!(attempts.len(), 2);
    assert!(attempts[1].calls[0].replayed);
    assert_eq!(sf.count("POST /services/data/v60.0/sobjects/Lead "), 1);
    assert_eq!(leads_named(&sf, "Local"), 1);
}
