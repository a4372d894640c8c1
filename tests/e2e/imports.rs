use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use gust_engine::model::{LogLevel, LogSource};
use gust_engine::salesforce::{
    BulkJobs, NoConnection, Result, SalesforceActions, SalesforceError, Upserted, WriteOperation,
    WriteOptions,
};
use gust_engine::store::{MemoryStateStore, StateStore};
use gust_engine::wasm::{Invocation, StepLimits};
use gust_engine::workflow::Permissions;
use gust_tests::{context, guests, read, sandbox};
use serde_json::{Value, json};

use crate::support::Sf;

/// A Salesforce that records every call it receives and answers with
/// canned data.
#[derive(Debug, Default)]
struct RecordingSalesforce {
    calls: Mutex<Vec<String>>,
    fail_with: Option<SalesforceError>,
}

impl RecordingSalesforce {
    fn record(&self, call: String) -> Result<()> {
        self.calls.lock().unwrap().push(call);
        match &self.fail_with {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl SalesforceActions for RecordingSalesforce {
    async fn query(&self, soql: &str, include_deleted: bool, _: usize) -> Result<String> {
        self.record(format!("query({soql}, {include_deleted})"))?;
        Ok(json!([
            { "attributes": { "type": "Lead" }, "Id": "00Q000000000001AAA", "Name": "Ada" },
            { "attributes": { "type": "Lead" }, "Id": "00Q000000000002AAA", "Name": "Grace" },
        ])
        .to_string())
    }
    async fn get(&self, sobject: &str, id: &str, fields: &[String]) -> Result<Value> {
        self.record(format!("get({sobject}, {id}, {fields:?})"))?;
        Ok(json!({ "Id": id, "Name": "Ada" }))
    }
    async fn create(&self, sobject: &str, record: Value) -> Result<String> {
        self.record(format!("create({sobject}, {record})"))?;
        Ok("00Q000000000003AAA".to_owned())
    }
    async fn update(&self, sobject: &str, id: &str, record: Value) -> Result<()> {
        self.record(format!("update({sobject}, {id}, {record})"))
    }
    async fn upsert(
        &self,
        sobject: &str,
        field: &str,
        value: &str,
        record: Value,
    ) -> Result<Upserted> {
        self.record(format!("upsert({sobject}, {field}, {value}, {record})"))?;
        Ok(Upserted {
            id: "00Q000000000004AAA".to_owned(),
            created: true,
        })
    }
    async fn delete(&self, sobject: &str, id: &str) -> Result<()> {
        self.record(format!("delete({sobject}, {id})"))
    }
    async fn write_many(
        &self,
        operation: WriteOperation,
        sobject: &str,
        records: Vec<Value>,
        options: WriteOptions,
        _jobs: &dyn BulkJobs,
    ) -> Result<Vec<Value>> {
        self.record(format!(
            "write_many({operation:?}, {sobject}, {}, {options:?})",
            records.len()
        ))?;
        Ok(vec![
            json!({ "id": "00Q000000000005AAA", "success": true, "created": false, "errors": [] }),
        ])
    }
    async fn describe(&self, sobject: &str) -> Result<Arc<Value>> {
        self.record(format!("describe({sobject})"))?;
        Ok(Arc::new(json!({ "name": sobject, "fields": [] })))
    }
    async fn request(&self, method: &str, path: &str, _body: Option<Value>) -> Result<Value> {
        self.record(format!("request({method}, {path})"))?;
        Ok(json!({ "DailyApiRequests": { "Max": 15000, "Remaining": 14998 } }))
    }
}

fn grants(permissions: Value) -> Permissions {
    serde_json::from_value(json!({ "salesforce": permissions })).unwrap()
}

fn limits() -> StepLimits {
    StepLimits {
        memory_bytes: 32 << 20,
        timeout: Duration::from_secs(5),
        fuel: None,
    }
}

/// Runs the misbehave guest on `input` as step `caller`.
async fn invoke(
    input: &Value,
    permissions: Permissions,
    salesforce: Arc<dyn SalesforceActions>,
) -> Invocation {
    let runtime = sandbox();
    let component = runtime.load(&read(guests::MISBEHAVE)).unwrap();
    let state = Arc::new(MemoryStateStore::default());
    let context = context("caller", permissions, salesforce, state);
    runtime.invoke(&component, input, &limits(), context).await
}

/// Has the guest make the Salesforce call described by `input` and returns
/// `{"ok": ...}` or `{"error": ...}` as the guest saw it.
async fn call_salesforce(
    mut input: Value,
    permissions: &Permissions,
    salesforce: Arc<dyn SalesforceActions>,
) -> Value {
    input["act"] = json!("salesforce");
    let invocation = invoke(&input, permissions.clone(), salesforce).await;
    invocation.result.unwrap().output
}

#[tokio::test]
async fn granted_calls_go_guest_to_host_to_salesforce_and_back() {
    let salesforce = Arc::new(RecordingSalesforce::default());
    let permissions =
        grants(json!({ "read": ["Lead"], "write": ["Lead"], "delete": ["Lead"], "request": true }));
    let cases = [
        (
            json!({ "call": "query", "soql": "SELECT Id, Name FROM Lead" }),
            json!({ "ok": [
            { "attributes": { "type": "Lead" }, "Id": "00Q000000000001AAA", "Name": "Ada" },
            { "attributes": { "type": "Lead" }, "Id": "00Q000000000002AAA", "Name": "Grace" }
        ] }),
        ),
        (
            json!({ "call": "get" }),
            json!({ "ok": { "Id": "00Q000000000001AAA", "Name": "Ada" } }),
        ),
        (
            json!({ "call": "create" }),
            json!({ "ok": "00Q000000000003AAA" }),
        ),
        (json!({ "call": "update" }), json!({ "ok": null })),
        (
            json!({ "call": "upsert" }),
            json!({ "ok": { "id": "00Q000000000004AAA", "created": true } }),
        ),
        (json!({ "call": "delete" }), json!({ "ok": null })),
        (
            json!({ "call": "write_many" }),
            json!({ "ok": [
            { "id": "00Q000000000005AAA", "success": true, "created": false, "errors": [] }
        ] }),
        ),
        (
            json!({ "call": "describe" }),
            json!({ "ok": { "name": "Lead", "fields": [] } }),
        ),
        (
            json!({ "call": "request" }),
            json!({ "ok": { "DailyApiRequests": { "Max": 15000, "Remaining": 14998 } } }),
        ),
    ];
    for (input, expected) in cases {
        let output = call_salesforce(input.clone(), &permissions, salesforce.clone()).await;
        assert_eq!(output, expected, "{input}");
    }
    assert_eq!(
        salesforce.calls(),
        [
            "query(SELECT Id, Name FROM Lead, false)",
            "get(Lead, 00Q000000000001AAA, [\"Name\"])",
            "create(Lead, {\"LastName\":\"Lovelace\"})",
            "update(Lead, 00Q000000000001AAA, {\"Rating\":\"Hot\"})",
            "upsert(Lead, Email, ada@acme.com, {\"LastName\":\"L\"})",
            "delete(Lead, 00Q000000000001AAA)",
            "write_many(Upsert, Lead, 1, WriteOptions { external_id_field: Some(\"Email\"), all_or_none: false })",
            "describe(Lead)",
            "request(GET, /services/data/v62.0/limits)",
        ]
    );
}

#[tokio::test]
async fn calls_the_workflow_did_not_grant_are_refused_before_any_request() {
    let salesforce = Arc::new(RecordingSalesforce::default());
    // Read on Lead only: every write, delete, other object and raw request is refused.
    let permissions = grants(json!({ "read": ["Lead"] }));
    let cases = [
        (
            json!({ "call": "query", "soql": "SELECT Id FROM Account" }),
            "may not read Account",
        ),
        (
            json!({ "call": "query", "soql": "SELECT Id, (SELECT Id FROM Lead) FROM Contact WHERE Name = 'FROM Lead'" }),
            "may not read Contact",
        ),
        (
            json!({ "call": "query_all", "soql": "select id from opportunity" }),
            "may not read opportunity",
        ),
        (
            json!({ "call": "get", "sobject": "Account" }),
            "may not read Account",
        ),
        (json!({ "call": "create" }), "may not write Lead"),
        (json!({ "call": "update" }), "may not write Lead"),
        (json!({ "call": "upsert" }), "may not write Lead"),
        (json!({ "call": "delete" }), "may not delete Lead"),
        (json!({ "call": "write_many" }), "may not write Lead"),
        (
            json!({ "call": "describe", "sobject": "User" }),
            "may not read User",
        ),
        (json!({ "call": "request" }), "may not send raw requests"),
    ];
    for (input, expected) in cases {
        let output = call_salesforce(input.clone(), &permissions, salesforce.clone()).await;
        let error = &output["error"];
        assert_eq!(error["status"], 403, "{input}: {output}");
        assert_eq!(error["error_code"], "GUST_PERMISSION_DENIED", "{input}");
        assert_eq!(error["retryable"], false, "{input}");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with("step `caller` "), "{message}");
        assert!(message.contains(expected), "{input}: {message}");
    }
    assert!(salesforce.calls().is_empty(), "{:?}", salesforce.calls());
}

#[tokio::test]
async fn write_permission_does_not_grant_delete() {
    let salesforce = Arc::new(RecordingSalesforce::default());
    let output = call_salesforce(
        json!({ "call": "delete_many" }),
        &grants(json!({ "write": ["Lead"] })),
        salesforce.clone(),
    )
    .await;
    assert_eq!(output["error"]["error_code"], "GUST_PERMISSION_DENIED");
    assert!(
        output["error"]["message"]
            .as_str()
            .unwrap()
            .contains("may not delete Lead")
    );
    assert!(salesforce.calls().is_empty());
}

#[tokio::test]
async fn a_refused_call_is_noted_in_the_step_logs() {
    let input = json!({ "act": "salesforce", "call": "create", "sobject": "Account" });
    let salesforce = Arc::new(RecordingSalesforce::default());
    let invocation = invoke(&input, Permissions::default(), salesforce).await;
    let note = invocation
        .logs
        .iter()
        .find(|line| line.source == LogSource::Host)
        .expect("a host log line");
    assert_eq!(note.level, LogLevel::Warn);
    assert_eq!(
        note.message,
        "step `caller` may not write Account: add \"Account\" to permissions.salesforce.write"
    );
}

#[tokio::test]
async fn salesforce_errors_reach_the_guest_with_their_error_code() {
    let salesforce = Arc::new(RecordingSalesforce {
        fail_with: Some(SalesforceError::new(
            400,
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record",
        )),
        ..RecordingSalesforce::default()
    });
    let output = call_salesforce(
        json!({ "call": "update" }),
        &grants(json!({ "write": ["Lead"] })),
        salesforce,
    )
    .await;
    assert_eq!(
        output,
        json!({ "error": {
            "status": 400,
            "error_code": "UNABLE_TO_LOCK_ROW",
            "message": "unable to obtain exclusive access to this record",
            "retryable": true
        } })
    );
}

#[tokio::test]
async fn without_a_connection_calls_say_so() {
    let input = json!({ "call": "query", "soql": "SELECT Id FROM Lead" });
    let output = call_salesforce(
        input,
        &grants(json!({ "read": ["Lead"] })),
        Arc::new(NoConnection),
    )
    .await;
    assert_eq!(output["error"]["error_code"], "GUST_NO_CONNECTION");
    assert!(
        output["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("no Salesforce connection configured")
    );
}

#[tokio::test]
async fn log_levels_stdout_and_stderr_are_kept_in_order_of_source() {
    let runtime = sandbox();
    let component = runtime.load(&read(guests::MISBEHAVE)).unwrap();
    let context = gust_tests::bare_context("logger");
    let invocation = runtime
        .invoke(&component, &json!({ "act": "log" }), &limits(), context)
        .await;
    let lines: Vec<(LogLevel, LogSource, &str)> = invocation
        .logs
        .iter()
        .map(|line| (line.level, line.source, line.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            (LogLevel::Trace, LogSource::Log, "trace line"),
            (LogLevel::Debug, LogSource::Log, "debug line"),
            (LogLevel::Info, LogSource::Log, "info line 1"),
            (LogLevel::Warn, LogSource::Log, "warn line"),
            (LogLevel::Error, LogSource::Log, "error line"),
            (LogLevel::Info, LogSource::Stdout, "to stdout"),
            (LogLevel::Warn, LogSource::Stderr, "to stderr"),
        ]
    );
}

#[tokio::test]
async fn a_flood_of_log_lines_is_capped() {
    let runtime = sandbox();
    let component = runtime.load(&read(guests::MISBEHAVE)).unwrap();
    let context = gust_tests::bare_context("logger");
    let invocation = runtime
        .invoke(
            &component,
            &json!({ "act": "log_flood" }),
            &limits(),
            context,
        )
        .await;
    assert!(invocation.result.is_ok());
    assert_eq!(invocation.logs.len(), gust_engine::wasm::MAX_LOG_LINES + 1);
    assert_eq!(
        invocation.logs.last().unwrap().message,
        "4000 more log lines were dropped (over 1000 lines or 262144 bytes)"
    );
}

#[tokio::test]
async fn state_persists_across_runs_and_is_scoped_to_the_step() {
    let runtime = sandbox();
    let component = runtime.load(&read(guests::MISBEHAVE)).unwrap();
    let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::default());
    let count = |step: &'static str| {
        let runtime = runtime.clone();
        let component = component.clone();
        let store = store.clone();
        async move {
            let context = context(
                step,
                Permissions::default(),
                Arc::new(NoConnection),
                store.clone(),
            );
            let state = context.state.clone();
            let output = runtime
                .invoke(&component, &json!({ "act": "count" }), &limits(), context)
                .await
                .result
                .unwrap()
                .output;
            store.apply(&state.take_writes()).await.unwrap();
            output
        }
    };
    assert_eq!(count("a").await, json!({ "count": 1 }));
    assert_eq!(count("a").await, json!({ "count": 2 }));
    assert_eq!(count("b").await, json!({ "count": 1 }));
    assert_eq!(
        store
            .get("test-workflow/a", "count")
            .await
            .unwrap()
            .as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn an_oversized_state_value_is_refused() {
    let runtime = sandbox();
    let component = runtime.load(&read(guests::MISBEHAVE)).unwrap();
    let failure = runtime
        .invoke(
            &component,
            &json!({ "act": "state_too_big" }),
            &limits(),
            gust_tests::bare_context("s"),
        )
        .await
        .result
        .unwrap_err();
    assert!(!failure.retryable);
    assert!(
        failure
            .message
            .starts_with("a state value is at most 65536 bytes"),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn a_refused_call_sends_nothing_to_salesforce() {
    let sf = Sf::start().await;
    let permissions = grants(json!({ "read": ["Lead"] }));
    for input in [
        json!({ "call": "query", "soql": "SELECT Id FROM Account" }),
        json!({ "call": "query", "soql": "SELECT Id FROM Lead WHERE Id IN (SELECT WhoId FROM Task)" }),
        json!({ "call": "create", "sobject": "Account" }),
        json!({ "call": "describe", "sobject": "Contact" }),
        json!({ "call": "request" }),
    ] {
        let output =
            call_salesforce(input.clone(), &permissions, Arc::new(sf.client.clone())).await;
        assert_eq!(
            output["error"]["error_code"], "GUST_PERMISSION_DENIED",
            "{input}: {output}"
        );
    }
    assert_eq!(sf.log(), Vec::<String>::new(), "not even a login");
}

#[tokio::test]
async fn objects_reached_through_relationships_need_their_own_grant() {
    let sf = Sf::start().await;
    let account = sf
        .client
        .create("Account", &json!({ "Name": "Acme" }))
        .await
        .unwrap();
    sf.client
        .create(
            "Contact",
            &json!({ "LastName": "Lovelace", "AccountId": account }),
        )
        .await
        .unwrap();
    let salesforce: Arc<dyn SalesforceActions> = Arc::new(sf.client.clone());
    let parent =
        json!({ "call": "query", "soql": "SELECT c.LastName, c.Account.Name FROM Contact c" });
    let contact_only = grants(json!({ "read": ["Contact"] }));
    let output = call_salesforce(parent.clone(), &contact_only, salesforce.clone()).await;
    assert_eq!(
        output["error"]["error_code"], "GUST_PERMISSION_DENIED",
        "{output}"
    );
    let message = output["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("may not read Account (through c.Account.Name)"),
        "{message}"
    );
    let children = json!({ "call": "query", "soql": "SELECT Name, (SELECT LastName FROM Contacts) FROM Account" });
    let output = call_salesforce(
        children.clone(),
        &grants(json!({ "read": ["Account"] })),
        salesforce.clone(),
    )
    .await;
    let message = output["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("may not read Contact (through Account.Contacts)"),
        "{message}"
    );
    assert_eq!(sf.count("/query"), 0, "{:#?}", sf.log());

    let both = grants(json!({ "read": ["Contact", "Account"] }));
    let output = call_salesforce(parent, &both, salesforce.clone()).await;
    assert_eq!(output["ok"][0]["Account"]["Name"], "Acme", "{output}");
    let output = call_salesforce(children, &both, salesforce).await;
    assert_eq!(
        output["ok"][0]["Contacts"]["records"][0]["LastName"], "Lovelace",
        "{output}"
    );
    assert_eq!(sf.count("/describe"), 2, "one describe per object, cached");
}
