use serde_json::json;

use super::*;
use crate::model::{RunStatus, now};
use crate::store::tests::{finish, new_run, steps};

#[tokio::test]
async fn an_accepted_run_is_queued_indexed_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let run = new_run("leads", None);
    let id = run.record.id;
    {
        let store = SledStore::open(dir.path()).unwrap();
        assert!(matches!(
            store.accept(&run).await.unwrap(),
            Accepted::New(_)
        ));
        assert!(
            SledStore::open(dir.path()).is_err(),
            "a second opener is refused"
        );
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(
        store.run(id).await.unwrap().unwrap().status,
        RunStatus::Queued
    );
    assert_eq!(
        store.detail(id).await.unwrap().unwrap().event,
        json!({ "n": 1 })
    );
    let queued = store.queued().await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0].id, queued[0].workflow.as_str()), (id, "leads"));
}

#[tokio::test]
async fn after_reopening_unfinished_runs_are_queued_and_finished_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let (finished, unfinished, late) = {
        let store = SledStore::open(dir.path()).unwrap();
        // Made before the mark moves past it, accepted after.
        let late = new_run("leads", None);
        let unfinished = new_run("leads", None);
        let finished = new_run("leads", None);
        let after = new_run("leads", None);
        for run in [&unfinished, &finished, &after] {
            store.accept(run).await.unwrap();
        }
        finish(&store, &finished.record).await;
        store.open_runs().mark_now();
        finish(&store, &after.record).await;
        assert_eq!(
            store.db.get(keys::mark()).unwrap().as_deref(),
            Some(unfinished.record.id.as_bytes().as_slice()),
            "the mark stops at the oldest unfinished run"
        );
        store.accept(&late).await.unwrap();
        (finished.record, unfinished.record, late.record)
    };
    let store = SledStore::open(dir.path()).unwrap();
    let mut queued: Vec<RunId> = store
        .queued()
        .await
        .unwrap()
        .iter()
        .map(|run| run.id)
        .collect();
    queued.sort();
    assert_eq!(queued, vec![late.id, unfinished.id]);
    assert!(!queued.contains(&finished.id));
    // The late run has a queue entry, which its end removes.
    assert_eq!(queue_entries(&store.db, usize::MAX).unwrap().len(), 1);
    finish(&store, &late).await;
    finish(&store, &unfinished).await;
    assert!(store.queued().await.unwrap().is_empty());
    assert!(queue_entries(&store.db, usize::MAX).unwrap().is_empty());
}

#[tokio::test]
async fn a_run_given_a_due_time_waits_in_the_queue_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let run = new_run("leads", None);
    store.accept(&run).await.unwrap();
    let mut retrying = run.record.clone();
    retrying.status = RunStatus::Retrying;
    retrying.due_at = Some(now() + chrono::TimeDelta::seconds(30));
    let step = crate::model::StepRecord::start("a", json!(1));
    store
        .transition(
            Transition {
                previous: (run.record.status, run.record.due_at),
                run: retrying.clone(),
                step: Some((0, step)),
                state_writes: Vec::new(),
            },
            true,
        )
        .await
        .unwrap();
    let queued = queue_entries(&store.db, usize::MAX).unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(Some(queued[0].due_at), retrying.due_at);
    assert_eq!(store.queued().await.unwrap(), queued);
    finish(&store, &retrying).await;
    assert!(queue_entries(&store.db, usize::MAX).unwrap().is_empty());
    let steps = steps(&store, run.record.id);
    assert_eq!(
        steps.await.len(),
        1,
        "the step record was replaced, not added"
    );
}

#[test]
fn a_store_in_use_is_refused_after_a_short_wait_and_a_closed_one_opens_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = SledStore::open(dir.path()).unwrap();
    let started = std::time::Instant::now();
    let refused = SledStore::open(dir.path())
        .err()
        .expect("one process at a time");
    assert!(
        started.elapsed() >= LOCK_WAIT,
        "it waited for the lock: {refused}"
    );
    assert!(
        refused.to_string().contains("is another Gust using it?"),
        "{refused}"
    );
    drop(first);
    for _ in 0..20 {
        // Closed a moment ago: its lock is waited for, not refused.
        SledStore::open(dir.path()).unwrap();
    }
}
