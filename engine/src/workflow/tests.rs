//! Workflow parsing and validation. Invalid definitions are golden files:
//! `engine/tests/ui/invalid/<name>.json` and the exact errors in
//! `<name>.err`. Run with `BLESS=1` to rewrite the `.err` files.

use std::path::PathBuf;

use serde_json::json;

use super::*;
use crate::trigger::salesforce_poll::{Backfill, DEFAULT_POLL_EVERY, DEFAULT_POLL_OVERLAP};
use crate::trigger::webhook::{Respond, WebhookTrigger};

#[test]
fn every_invalid_workflow_reports_its_golden_errors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ui/invalid");
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "the golden cases are missing");
    let mut mismatches = Vec::new();
    for case in cases {
        let text = std::fs::read_to_string(&case).unwrap();
        let errors = parse(&text).expect_err(&format!("{} parsed", case.display()));
        let actual: String = errors.iter().map(|e| format!("{e}\n")).collect();
        let golden = case.with_extension("err");
        if bless {
            std::fs::write(&golden, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if actual != expected {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                case.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_minimal_workflow_gets_the_documented_defaults() {
    let workflow = parse(
        r#"{"id": "w", "trigger": {"webhook": {}}, "steps": [{"id": "s", "uses": "builtin:filter"}]}"#,
    )
    .unwrap();
    let step = &workflow.steps[0];
    assert_eq!(step.timeout_ms, 5_000);
    assert_eq!(step.memory_mb, 64);
    assert_eq!(step.fuel, None);
    assert_eq!(step.retry, RetryPolicy::default());
    assert_eq!(step.retry.max_attempts, 3);
    assert_eq!(step.permissions, Permissions::default());
    assert_eq!(
        workflow.trigger,
        Trigger::Webhook(WebhookTrigger {
            respond: Respond::Accepted,
            ..WebhookTrigger::default()
        })
    );
}

#[test]
fn the_design_example_parses_and_round_trips() {
    let text = json!({
        "id": "score-leads",
        "trigger": { "webhook": { "secret": "env:LEADS_SECRET", "respond": "sync" } },
        "steps": [
            { "id": "score", "uses": "steps/lead-score.wasm",
              "with": { "lead": "${trigger.body}" },
              "permissions": { "salesforce": { "read": ["Lead"], "write": ["Lead"] } },
              "timeout_ms": 2000, "memory_mb": 64,
              "retry": { "max_attempts": 5, "backoff_ms": 500 } }
        ]
    })
    .to_string();
    let workflow = parse(&text).unwrap();
    let Trigger::Webhook(webhook) = &workflow.trigger else {
        panic!("not a webhook");
    };
    assert_eq!(webhook.secret, Some(SecretRef::Env("LEADS_SECRET".into())));
    let permissions = &workflow.steps[0].permissions.salesforce;
    assert!(permissions.allows(Access::Write, "lead"));
    assert!(!permissions.allows(Access::Delete, "Lead"));
    assert!(!permissions.allows(Access::Read, "Account"));
    let again = parse(&serde_json::to_string(&workflow).unwrap()).unwrap();
    assert_eq!(again, workflow);
}

#[test]
fn a_wildcard_grants_every_object() {
    let permissions: SalesforcePermissions =
        serde_json::from_value(json!({ "read": ["*"] })).unwrap();
    assert!(permissions.allows(Access::Read, "Invoice__c"));
    assert!(!permissions.allows(Access::Write, "Invoice__c"));
}

#[test]
fn a_valid_schedule_and_outbound_message_pass() {
    for trigger in [
        json!({ "schedule": { "cron": "0 */15 * * * *", "timezone": "Europe/Paris", "missed": "catch_up" } }),
        json!({ "outbound_message": { "organization_ids": ["00D5g000004EXAMPLE"], "sobject": "Opportunity" } }),
    ] {
        let text = json!({ "id": "w", "trigger": trigger, "steps": [{ "id": "s", "uses": "builtin:filter" }] });
        parse(&text.to_string()).unwrap();
    }
}

#[test]
fn a_poll_gets_its_defaults_and_triggers_without_a_url_sum_up_how_they_start() {
    let trigger = |trigger| -> Trigger {
        let text = json!({ "id": "w", "trigger": trigger, "steps": [{ "id": "s", "uses": "builtin:filter" }] });
        parse(&text.to_string()).unwrap().trigger
    };
    let poll = trigger(json!({ "salesforce_poll": { "sobject": "Lead", "on": "updated" } }));
    let Trigger::SalesforcePoll(defaults) = &poll else {
        panic!("{poll:?}")
    };
    assert_eq!(defaults.every, DEFAULT_POLL_EVERY);
    assert_eq!(defaults.overlap, DEFAULT_POLL_OVERLAP);
    assert_eq!(defaults.backfill, Backfill::None);
    assert_eq!(defaults.batch_size, None);
    assert_eq!(
        poll.summary().as_deref(),
        Some("poll Lead updated, every 0 */5 * * * * UTC")
    );
    assert_eq!(
        trigger(json!({ "schedule": { "cron": "0 0 2 * * *" } }))
            .summary()
            .as_deref(),
        Some("cron 0 0 2 * * * UTC")
    );
    assert_eq!(
        trigger(json!({ "manual": {} })).summary().as_deref(),
        Some("manual")
    );
    assert_eq!(trigger(json!({ "webhook": {} })).summary(), None);
}

#[test]
fn backoff_grows_exponentially_with_jitter_and_a_cap() {
    let policy = RetryPolicy {
        max_attempts: 10,
        backoff_ms: 100,
        max_backoff_ms: 1_000,
    };
    for _ in 0..100 {
        let second = policy.backoff(2).as_millis();
        let third = policy.backoff(3).as_millis();
        let late = policy.backoff(9).as_millis();
        assert!((50..=100).contains(&second), "{second}");
        assert!((100..=200).contains(&third), "{third}");
        assert!((500..=1_000).contains(&late), "{late}");
    }
}

/// `examples/workflow.schema.json`, which the examples name as their
/// `$schema`, is the schema the types make. `BLESS=1` rewrites it.
#[test]
fn the_published_json_schema_is_the_one_the_types_make() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/workflow.schema.json");
    let generated = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let published = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        published == generated,
        "examples/workflow.schema.json is stale: run `BLESS=1 cargo test -p gust-engine --lib json_schema`"
    );
    let schema = json_schema();
    let properties = schema["properties"].as_object().unwrap();
    assert!(properties.contains_key("$schema") && properties.contains_key("trigger"));
    assert!(
        schema["$defs"]["Step"]["properties"]["timeout_ms"]["description"]
            .as_str()
            .unwrap()
            .contains("wall-clock limit")
    );
}
