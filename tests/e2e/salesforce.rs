//! The prebuilt `builtin:salesforce` step against sf-emulator (the client
//! itself is tested in `crates/salesforce/tests`).

use serde_json::{Value, json};
use sf_emulator::Config;
use sf_emulator::faults::{Fault, FaultKind};

use crate::support::{Sf, run_locally, with_erp_id};

/// A `builtin:salesforce` step `id` doing `with`, granted `permissions`.
fn action(id: &str, with: Value, permissions: &Value) -> Value {
    json!({ "id": id, "uses": "builtin:salesforce", "with": with, "permissions": permissions })
}

/// Runs `steps` (each a `builtin:salesforce` action with its grants) as one
/// workflow against the emulator and returns the report.
async fn run_actions(sf: &Sf, steps: Value) -> gust_engine::runtime::RunReport {
    run_actions_on(sf, steps, json!({})).await
}

/// [`run_actions`] for a manual start with `event`.
async fn run_actions_on(sf: &Sf, steps: Value, event: Value) -> gust_engine::runtime::RunReport {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("actions.json");
    let definition = json!({ "id": "actions", "trigger": { "manual": {} }, "steps": steps });
    std::fs::write(&path, definition.to_string()).unwrap();
    run_locally(sf, &path, event).await
}

#[tokio::test]
async fn the_prebuilt_salesforce_step_runs_every_action() {
    let sf = Sf::start_with(with_erp_id(Config::default())).await;
    let all = json!({ "salesforce": { "read": ["Lead", "Account"], "write": ["Lead", "Account"], "delete": ["Lead"], "request": true } });
    let step = |id: &str, with: Value| action(id, with, &all);
    let report = run_actions(
        &sf,
        json!([
            step("create", json!({ "action": "create", "sobject": "Lead", "record": { "LastName": "Lovelace", "Company": "AE" } })),
            step("update", json!({ "action": "update", "sobject": "Lead", "id": "${steps.create.id}", "record": { "Rating": "Warm" } })),
            step("get", json!({ "action": "get", "sobject": "Lead", "id": "${steps.create.id}", "fields": ["Rating"] })),
            step("upsert", json!({ "action": "upsert", "sobject": "Account", "external_id_field": "Erp_Id__c", "external_id": "E-9", "record": { "Name": "Acme" } })),
            step("query", json!({ "action": "query", "soql": "SELECT Id, Rating FROM Lead" })),
            step("many", json!({ "action": "write_many", "operation": "insert", "sobject": "Lead",
                                 "records": [{ "LastName": "A", "Company": "X" }, { "Company": "No name" }] })),
            step("describe", json!({ "action": "describe", "sobject": "Account" })),
            step("limits", json!({ "action": "request", "method": "GET", "path": "/services/data/v60.0/limits" })),
            step("delete", json!({ "action": "delete", "sobject": "Lead", "id": "${steps.create.id}" })),
            step("deleted", json!({ "action": "query", "soql": "SELECT Id FROM Lead WHERE Id = :id",
                                    "params": { "id": "${steps.create.id}" }, "include_deleted": true })),
        ]),
    )
    .await;
    let output = |id: &str| {
        report
            .steps
            .iter()
            .find(|s| s.step == id)
            .and_then(|s| s.output.clone())
            .unwrap_or_else(|| panic!("{id}: {:#?}", report.steps.last()))
    };
    assert_eq!(
        report.status,
        gust_engine::model::RunStatus::Succeeded,
        "{:#?}",
        report.steps.last()
    );
    let id = output("create")["id"].as_str().unwrap().to_owned();
    assert_eq!(output("update"), json!({ "id": id }));
    assert_eq!(output("get")["Rating"], "Warm");
    assert_eq!(output("upsert")["created"], true);
    assert_eq!(output("query")["count"], 1);
    assert_eq!(output("query")["records"][0]["Rating"], "Warm");
    assert_eq!(
        (
            output("many")["succeeded"].clone(),
            output("many")["failed"].clone()
        ),
        (json!(1), json!(1))
    );
    assert_eq!(
        output("many")["results"][1]["errors"][0]["statusCode"],
        "REQUIRED_FIELD_MISSING"
    );
    assert_eq!(output("describe")["name"], "Account");
    assert!(output("limits")["DailyApiRequests"]["Max"].is_u64());
    assert_eq!(output("delete"), json!({ "id": id, "deleted": true }));
    assert_eq!(
        output("deleted")["count"],
        1,
        "queryAll sees the deleted lead"
    );
}

#[tokio::test]
async fn the_prebuilt_step_fails_clearly_and_retries_only_transient_errors() {
    let sf = Sf::start().await;
    let grants = json!({ "salesforce": { "write": ["Lead"] } });
    let report = run_actions(
        &sf,
        json!([{ "id": "bad", "uses": "builtin:salesforce", "permissions": grants,
                 "with": { "action": "create", "sobject": "Lead", "record": { "Nope__c": 1 } },
                 "retry": { "max_attempts": 3, "backoff_ms": 1 } }]),
    )
    .await;
    let bad = &report.steps[0];
    assert_eq!(bad.attempts.len(), 1, "INVALID_FIELD is not retried");
    let error = bad.error.as_ref().unwrap();
    assert!(
        error
            .message
            .starts_with("INVALID_FIELD: No such column 'Nope__c'"),
        "{}",
        error.message
    );

    sf.emulator().inject(Fault {
        path: "/sobjects/Lead".into(),
        method: None,
        kind: FaultKind::UnableToLockRow,
        times: Some(7),
    });
    let report = run_actions(
        &sf,
        json!([{ "id": "locked", "uses": "builtin:salesforce", "permissions": grants,
                 "with": { "action": "create", "sobject": "Lead", "record": { "LastName": "L", "Company": "C" } },
                 "retry": { "max_attempts": 3, "backoff_ms": 1 } }]),
    )
    .await;
    // The host retries six times within one attempt; the step's retry
    // policy runs the step again, which then goes through.
    assert_eq!(report.status, gust_engine::model::RunStatus::Succeeded);
    assert_eq!(report.steps[0].attempts.len(), 2);

    // `gust validate` refuses a misspelled action written out; one that
    // comes from the event is refused by the step.
    let report = run_actions_on(
        &sf,
        json!([{ "id": "typo", "uses": "builtin:salesforce", "permissions": grants,
                 "with": { "action": "${trigger.action}", "sobject": "Lead" } }]),
        json!({ "action": "craete" }),
    )
    .await;
    let message = &report.steps[0].error.as_ref().unwrap().message;
    assert!(
        message.starts_with("invalid salesforce step input: unknown variant `craete`"),
        "{message}"
    );
}

/// The regressions of the README's old `'${trigger.body.email}'` pattern:
/// pasted into the query, the first name returned every Account and the
/// second failed with MALFORMED_QUERY. Bound, each is one string.
#[tokio::test]
async fn bound_query_parameters_keep_injection_and_apostrophes_in_their_string() {
    let sf = Sf::start().await;
    let grants = json!({ "salesforce": { "read": ["Account"], "write": ["Account"] } });
    let step = |id: &str, with: Value| action(id, with, &grants);
    let report = run_actions(
        &sf,
        json!([
            step("acme", json!({ "action": "create", "sobject": "Account", "record": { "Name": "Acme" } })),
            step("oreilly", json!({ "action": "create", "sobject": "Account", "record": { "Name": "O'Reilly" } })),
        ]),
    )
    .await;
    assert_eq!(report.status, gust_engine::model::RunStatus::Succeeded);
    let find = json!([step(
        "find",
        json!({ "action": "query", "soql": "SELECT Name FROM Account WHERE Name = :name",
                                            "params": { "name": "${trigger.name}" } })
    )]);
    for (name, expected) in [
        ("nobody' OR Name != 'x", json!([])),
        ("O'Reilly", json!(["O'Reilly"])),
    ] {
        let report = run_actions_on(&sf, find.clone(), json!({ "name": name })).await;
        assert_eq!(
            report.status,
            gust_engine::model::RunStatus::Succeeded,
            "{name}: {:#?}",
            report.steps.last()
        );
        let names: Vec<Value> = report.output["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| record["Name"].clone())
            .collect();
        assert_eq!(Value::from(names), expected, "{name}");
    }

    // Misspelled in the workflow, `gust validate` refuses it; from the
    // event, the step does, before anything is sent.
    let report = run_actions_on(
        &sf,
        json!([step(
            "typo",
            json!({ "action": "query", "soql": "SELECT Id FROM Account WHERE Name = :name",
                    "params": "${trigger.params}" })
        )]),
        json!({ "params": { "nmae": "Acme" } }),
    )
    .await;
    let message = &report.steps[0].error.as_ref().unwrap().message;
    assert!(
        message.starts_with(
            "GUST_QUERY_PARAMETERS: `:name` has no value; the parameters given are: `nmae`"
        ),
        "{message}"
    );
}

/// The regression of a webhook that omitted `title` and so cleared a
/// Contact's Title: the reference fails the step before anything is
/// written, unless it is optional.
#[tokio::test]
async fn an_absent_value_never_clears_a_salesforce_field() {
    let sf = Sf::start().await;
    let grants = json!({ "salesforce": { "read": ["Contact"], "write": ["Contact"] } });
    let step = |id: &str, with: Value| action(id, with, &grants);
    let report = run_actions(
        &sf,
        json!([step(
            "create",
            json!({ "action": "create", "sobject": "Contact",
                                        "record": { "LastName": "Hopper", "Title": "CTO" } })
        )]),
    )
    .await;
    let id = report.output["id"].as_str().unwrap().to_owned();
    let update = |title: &str| {
        json!([
            step(
                "update",
                json!({ "action": "update", "sobject": "Contact", "id": id,
                                   "record": { "LastName": "${trigger.body.last_name}", "Title": title } })
            ),
            step(
                "read",
                json!({ "action": "get", "sobject": "Contact", "id": id, "fields": ["Title"] })
            ),
        ])
    };
    let event = json!({ "body": { "last_name": "Hopper", "email": "grace@navy.mil" } });

    let report = run_actions_on(&sf, update("${trigger.body.title}"), event.clone()).await;
    assert_eq!(report.status, gust_engine::model::RunStatus::Failed);
    let error = report.steps[0].error.as_ref().unwrap();
    assert_eq!(
        error.message,
        "cannot resolve the step's input: `${trigger.body.title}`: `trigger.body` has no `title` \
         (its keys: `last_name`, `email`); write `${trigger.body.title ?? null}` (or another \
         default) if it may be absent, or `${trigger.body.title?}` to leave the key out"
    );
    assert_eq!(report.steps[0].attempts.len(), 0, "nothing was sent");

    let report = run_actions_on(&sf, update("${trigger.body.title?}"), event.clone()).await;
    assert_eq!(report.output["Title"], "CTO", "{:#?}", report.steps);

    let report = run_actions_on(&sf, update("${trigger.body.title ?? null}"), event).await;
    assert_eq!(report.output["Title"], Value::Null, "{:#?}", report.steps);
}
