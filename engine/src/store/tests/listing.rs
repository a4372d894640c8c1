//! Listing runs by time range, by a trigger kind's workflows and by what
//! their events hold, and within a bound of runs examined, on each
//! backend.

use std::sync::Arc;

use serde_json::{Value, json};

use super::on_each_store;
use crate::model::{RunId, RunRecord};
use crate::store::{EventSearch, NewRun, RunPage, RunQuery, Store};

/// Stores a run of `workflow` with `event`; returns its id.
async fn accept(store: &dyn Store, workflow: &str, event: Value) -> RunId {
    let record = RunRecord::queued(RunId::new(), workflow);
    let id = record.id;
    store.accept(&NewRun { record, event }).await.unwrap();
    id
}

fn ids(page: &RunPage) -> Vec<RunId> {
    page.runs.iter().map(|run| run.id).collect()
}

async fn runs_list_by_time_range_workflows_and_what_their_events_hold(store: Arc<dyn Store>) {
    let store = &*store;
    // An Opportunity's id as a real Outbound Message gives it, then in its
    // 15-character form, then another id that differs only in case.
    let acme = accept(
        store,
        "leads",
        json!({"company": "Acme Corp", "Id": "0067F000003pmdWQAQ"}),
    )
    .await;
    let globex = accept(store, "orders", json!({"company": "Globex"})).await;
    let short = accept(store, "polls", json!({"record": {"Id": "0067F000003pmdW"}})).await;
    let other = accept(store, "leads", json!({"record": {"Id": "0067F000003PMDW"}})).await;
    let list = |query: RunQuery| async move { store.list(&query).await.unwrap() };

    let text = list(RunQuery {
        event_contains: EventSearch::new("ACME corp").unwrap(),
        ..RunQuery::default()
    })
    .await;
    assert_eq!(ids(&text), vec![acme]);
    let record = list(RunQuery {
        event_contains: EventSearch::new("0067F000003pmdWQAQ").unwrap(),
        ..RunQuery::default()
    })
    .await;
    assert_eq!(ids(&record), vec![short, acme]);
    let of_kind = list(RunQuery {
        workflow_in: Some(vec!["orders".into(), "polls".into()]),
        ..RunQuery::default()
    })
    .await;
    assert_eq!(ids(&of_kind), vec![short, globex]);
    let range = list(RunQuery {
        after: Some(globex),
        before: Some(other),
        ..RunQuery::default()
    })
    .await;
    assert_eq!(ids(&range), vec![short, globex]);
    let empty_range = list(RunQuery {
        after: Some(other),
        before: Some(globex),
        ..RunQuery::default()
    })
    .await;
    assert!(empty_range.runs.is_empty());
    let of_no_workflow = list(RunQuery {
        workflow_in: Some(Vec::new()),
        ..RunQuery::default()
    })
    .await;
    assert!(of_no_workflow.runs.is_empty());

    // Two runs examined at a time: the first page stops short at the
    // second newest, and the next goes on from there to find Acme.
    let bounded = RunQuery {
        event_contains: EventSearch::new("acme").unwrap(),
        examine: Some(2),
        ..RunQuery::default()
    };
    let first = list(bounded.clone()).await;
    assert!(first.runs.is_empty());
    assert!(first.cut_short);
    assert_eq!(first.next_cursor, Some(short));
    let second = list(RunQuery {
        before: first.next_cursor,
        ..bounded
    })
    .await;
    assert_eq!(ids(&second), vec![acme]);
}

on_each_store!(runs_list_by_time_range_workflows_and_what_their_events_hold);
