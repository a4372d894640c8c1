use serde_json::json;

use super::*;
use crate::model::{RunStatus, now};
use crate::store::InstallationStore;

fn store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    (dir, store)
}

/// A run's step records; none for a run not stored.
fn steps(store: &SledStore, id: RunId) -> Vec<crate::model::StepRecord> {
    store
        .detail(id)
        .unwrap()
        .map(|detail| detail.steps)
        .unwrap_or_default()
}

fn new_run(workflow: &str, dedupe_key: Option<&str>) -> NewRun {
    let mut record = RunRecord::queued(RunId::new(), workflow);
    record.dedupe_key = dedupe_key.map(str::to_owned);
    NewRun {
        record,
        event: json!({ "n": 1 }),
    }
}

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
    assert_eq!(store.run(id).unwrap().unwrap().status, RunStatus::Queued);
    assert_eq!(store.detail(id).unwrap().unwrap().event, json!({ "n": 1 }));
    let queued = store.queued().unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0].id, queued[0].workflow.as_str()), (id, "leads"));
}

#[tokio::test]
async fn a_dedupe_key_stores_one_run_even_under_concurrency() {
    let (_dir, store) = store();
    let store = std::sync::Arc::new(store);
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.accept(&new_run("leads", Some("k1"))).await.unwrap() })
        })
        .collect();
    let mut new = Vec::new();
    let mut duplicates = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap() {
            Accepted::New(run) => new.push(run.id),
            Accepted::Duplicate(run) => duplicates.push(run.id),
        }
    }
    assert_eq!(new.len(), 1);
    assert!(duplicates.iter().all(|id| *id == new[0]));
    // Another workflow may use the same key.
    assert!(matches!(
        store.accept(&new_run("other", Some("k1"))).await.unwrap(),
        Accepted::New(_)
    ));
    assert_eq!(store.queued().unwrap().len(), 2);
}

#[tokio::test]
async fn a_transition_moves_the_run_between_indexes_and_out_of_the_queue() {
    let (_dir, store) = store();
    let run = new_run("leads", None);
    let mut record = run.record.clone();
    let run_due = record.due_at;
    store.accept(&run).await.unwrap();
    record.status = RunStatus::Failed;
    record.due_at = None;
    record.finished_at = Some(now());
    let step = crate::model::StepRecord::start("score", json!({}));
    let transition = Transition {
        previous: (RunStatus::Queued, run_due),
        run: record.clone(),
        step: Some((0, step)),
        state_writes: vec![StateWrite {
            scope: "leads/score".into(),
            key: "calls".into(),
            value: Some("1".into()),
        }],
    };
    store.transition(transition, true).await.unwrap();
    assert!(store.queued().unwrap().is_empty());
    assert_eq!(steps(&store, record.id).len(), 1);
    assert_eq!(
        StateStore::get(&store, "leads/score", "calls")
            .unwrap()
            .as_deref(),
        Some("1")
    );
    let failed = RunQuery {
        status: Some(RunStatus::Failed),
        limit: 10,
        ..RunQuery::default()
    };
    assert_eq!(store.list(&failed).unwrap().runs.len(), 1);
    let queued = RunQuery {
        status: Some(RunStatus::Queued),
        limit: 10,
        ..RunQuery::default()
    };
    assert!(store.list(&queued).unwrap().runs.is_empty());
}

#[tokio::test]
async fn runs_list_newest_first_in_pages_and_by_workflow() {
    let (_dir, store) = store();
    let mut ids = Vec::new();
    for index in 0..5 {
        let run = new_run(if index % 2 == 0 { "even" } else { "odd" }, None);
        ids.push(run.record.id);
        store.accept(&run).await.unwrap();
    }
    let first = store
        .list(&RunQuery {
            limit: 2,
            ..RunQuery::default()
        })
        .unwrap();
    assert_eq!(
        first.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );
    assert_eq!(first.next_cursor, Some(ids[3]));
    let rest = store
        .list(&RunQuery {
            limit: 10,
            before: first.next_cursor,
            ..RunQuery::default()
        })
        .unwrap();
    assert_eq!(
        rest.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1], ids[0]]
    );
    assert_eq!(rest.next_cursor, None);
    let even = store
        .list(&RunQuery {
            workflow: Some("even".into()),
            status: Some(RunStatus::Queued),
            limit: 10,
            ..RunQuery::default()
        })
        .unwrap();
    assert_eq!(
        even.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[4], ids[2], ids[0]]
    );
}

#[tokio::test]
async fn pruning_removes_old_finished_runs_and_keeps_unfinished_ones() {
    let (_dir, store) = store();
    let finished = new_run("leads", Some("old"));
    let mut record = finished.record.clone();
    store.accept(&finished).await.unwrap();
    let unfinished = new_run("leads", None);
    let unfinished_id = unfinished.record.id;
    store.accept(&unfinished).await.unwrap();
    let previous = (record.status, record.due_at);
    record.status = RunStatus::Succeeded;
    record.due_at = None;
    store
        .transition(
            Transition {
                previous,
                run: record.clone(),
                step: Some((0, crate::model::StepRecord::start("a", json!(null)))),
                state_writes: Vec::new(),
            },
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        store.prune(record.created_at, record.created_at).unwrap(),
        0,
        "nothing is older than itself"
    );
    let later = now() + chrono::TimeDelta::seconds(1);
    assert_eq!(
        store.prune(later, record.created_at).unwrap(),
        0,
        "a run with a dedupe key outlives the retention within the dedupe window"
    );
    assert!(matches!(
        store.accept(&new_run("leads", Some("old"))).await.unwrap(),
        Accepted::Duplicate(_)
    ));
    assert_eq!(store.prune(later, later).unwrap(), 1);
    assert_eq!(store.run(record.id).unwrap(), None);
    assert!(steps(&store, record.id).is_empty());
    assert!(store.run(unfinished_id).unwrap().is_some());
    // The dedupe key went with the run.
    assert!(matches!(
        store.accept(&new_run("leads", Some("old"))).await.unwrap(),
        Accepted::New(_)
    ));
    let all = RunQuery {
        limit: 10,
        ..RunQuery::default()
    };
    assert_eq!(store.list(&all).unwrap().runs.len(), 2);
}

/// Ends `record` (accepted) with success.
async fn finish(store: &SledStore, record: &RunRecord) {
    let mut ended = record.clone();
    ended.status = RunStatus::Succeeded;
    ended.due_at = None;
    ended.finished_at = Some(now());
    let transition = Transition {
        previous: (record.status, record.due_at),
        run: ended,
        step: Some((0, crate::model::StepRecord::start("a", json!(null)))),
        state_writes: Vec::new(),
    };
    store.transition(transition, true).await.unwrap();
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
    let mut queued: Vec<RunId> = store.queued().unwrap().iter().map(|run| run.id).collect();
    queued.sort();
    assert_eq!(queued, vec![late.id, unfinished.id]);
    assert!(!queued.contains(&finished.id));
    // The late run has a queue entry, which its end removes.
    assert_eq!(queue_entries(&store.db, usize::MAX).unwrap().len(), 1);
    finish(&store, &late).await;
    finish(&store, &unfinished).await;
    assert!(store.queued().unwrap().is_empty());
    assert!(queue_entries(&store.db, usize::MAX).unwrap().is_empty());
}

#[tokio::test]
async fn a_run_given_a_due_time_waits_in_the_queue_until_it_ends() {
    let (_dir, store) = store();
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
    assert_eq!(store.queued().unwrap(), queued);
    finish(&store, &retrying).await;
    assert!(queue_entries(&store.db, usize::MAX).unwrap().is_empty());
    let steps = steps(&store, run.record.id);
    assert_eq!(steps.len(), 1, "the step record was replaced, not added");
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

/// Ends `record` (accepted) as `status`.
async fn end(store: &SledStore, record: &RunRecord, status: RunStatus) {
    let mut ended = record.clone();
    ended.status = status;
    ended.due_at = None;
    ended.finished_at = Some(now());
    let transition = Transition {
        previous: (record.status, record.due_at),
        run: ended,
        step: None,
        state_writes: Vec::new(),
    };
    store.transition(transition, true).await.unwrap();
}

#[tokio::test]
async fn a_replay_that_succeeds_takes_the_runs_it_replays_off_the_failed_list() {
    let (_dir, store) = store();
    let failed = |workflow: Option<&str>| RunQuery {
        workflow: workflow.map(str::to_owned),
        status: Some(RunStatus::Failed),
        limit: 10,
        ..RunQuery::default()
    };
    let listed = |query: RunQuery| -> Vec<RunId> {
        store
            .list(&query)
            .unwrap()
            .runs
            .iter()
            .map(|run| run.id)
            .collect()
    };
    let first = new_run("leads", None);
    let other = new_run("leads", None);
    store.accept(&first).await.unwrap();
    store.accept(&other).await.unwrap();
    end(&store, &first.record, RunStatus::Failed).await;
    end(&store, &other.record, RunStatus::Failed).await;
    // A replay that fails again, then a replay of that replay.
    let mut again = new_run("leads", None);
    again.record.replay_of = Some(first.record.id);
    store.accept(&again).await.unwrap();
    end(&store, &again.record, RunStatus::Failed).await;
    assert_eq!(listed(failed(None)).len(), 3);
    let mut fixed = new_run("leads", None);
    fixed.record.replay_of = Some(again.record.id);
    store.accept(&fixed).await.unwrap();
    end(&store, &fixed.record, RunStatus::Succeeded).await;

    assert_eq!(listed(failed(None)), [other.record.id]);
    assert_eq!(listed(failed(Some("leads"))), [other.record.id]);
    for id in [first.record.id, again.record.id] {
        let run = store.run(id).unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Failed, "its history stays");
        assert_eq!(run.replayed_by, Some(fixed.record.id));
    }
    assert_eq!(
        store.run(other.record.id).unwrap().unwrap().replayed_by,
        None
    );
}

/// A journal entry of call `sequence`, answered `answer`.
fn entry(sequence: u32, answer: &str) -> crate::model::JournalEntry {
    crate::model::JournalEntry {
        call: crate::model::SalesforceCall {
            sequence,
            operation: crate::model::CallOperation::Create,
            sobject: Some("Lead".to_owned()),
            record_ids: Vec::new(),
            digest: format!("d{sequence}"),
            started_at: now(),
            duration: std::time::Duration::from_millis(2),
            outcome: crate::model::CallOutcome::Succeeded {
                status: 201,
                bytes: answer.len(),
            },
            replayed: false,
        },
        answer: Some(answer.to_owned()),
        bulk_job: None,
    }
}

async fn record(store: &SledStore, run: RunId, step: &str, entry: &crate::model::JournalEntry) {
    let write = JournalWrite {
        run,
        step,
        entry,
        forget: 0..0,
    };
    store.record(write, true).await.unwrap();
}

#[tokio::test]
async fn a_journal_keeps_each_steps_calls_in_order_and_forgets_a_path_not_taken() {
    let (_dir, store) = store();
    let run = RunId::new();
    for sequence in [1, 2, 3, 10] {
        record(
            &store,
            run,
            "sync",
            &entry(sequence, &format!("\"{sequence}\"")),
        )
        .await;
    }
    record(&store, run, "sync-more", &entry(1, "\"other step\"")).await;
    let sequences = |step: &str| -> Vec<u32> {
        let journal = store.journal(run, step).unwrap();
        journal.iter().map(|entry| entry.call.sequence).collect()
    };
    assert_eq!(sequences("sync"), [1, 2, 3, 10]);
    assert_eq!(sequences("sync-more"), [1]);
    let answer = |at: usize| store.journal(run, "sync").unwrap()[at].answer.clone();
    assert_eq!(answer(1).as_deref(), Some("\"2\""));

    // Call 2 took another path: the earlier calls after it go.
    let other = entry(2, "\"again\"");
    let write = JournalWrite {
        run,
        step: "sync",
        entry: &other,
        forget: 3..11,
    };
    store.record(write, false).await.unwrap();
    assert_eq!(sequences("sync"), [1, 2]);
    assert_eq!(answer(1).as_deref(), Some("\"again\""));
}

#[tokio::test]
async fn a_journal_goes_when_its_step_ends_well_and_with_its_run() {
    let (_dir, store) = store();
    let accepted = new_run("leads", None);
    let mut run = accepted.record.clone();
    store.accept(&accepted).await.unwrap();
    for step in ["first", "second"] {
        record(&store, run.id, step, &entry(1, "\"x\"")).await;
    }
    // The first step succeeds: its journal is done.
    let mut first = crate::model::StepRecord::start("first", json!(null));
    first.status = crate::model::StepStatus::Succeeded;
    first.attempts.push(crate::model::Attempt {
        number: 1,
        started_at: now(),
        duration: std::time::Duration::from_millis(3),
        error: None,
        logs: Vec::new(),
        calls: vec![entry(1, "\"x\"").call],
    });
    let transition = Transition {
        previous: (run.status, run.due_at),
        run: run.clone(),
        step: Some((0, first)),
        state_writes: Vec::new(),
    };
    store.transition(transition, true).await.unwrap();
    assert!(store.journal(run.id, "first").unwrap().is_empty());
    // The second fails, and the run with it: its journal stays, to resume.
    let mut second = crate::model::StepRecord::start("second", json!(null));
    second.status = crate::model::StepStatus::Failed;
    let previous = (run.status, run.due_at);
    run.status = RunStatus::Failed;
    run.due_at = None;
    let transition = Transition {
        previous,
        run: run.clone(),
        step: Some((1, second)),
        state_writes: Vec::new(),
    };
    store.transition(transition, true).await.unwrap();
    assert_eq!(store.journal(run.id, "second").unwrap().len(), 1);

    let later = now() + chrono::TimeDelta::seconds(1);
    assert_eq!(store.prune(later, later).unwrap(), 1);
    assert!(store.journal(run.id, "second").unwrap().is_empty());
}

fn installation(workflow: &str) -> crate::model::InstallationRecord {
    let (_, secret) = crate::model::SecretDigest::generate("whsec_");
    crate::model::InstallationRecord {
        id: crate::model::InstallationId::random(),
        tenant: "acme".to_owned(),
        workflow: workflow.to_owned(),
        workflow_version: "0123456789abcdef".to_owned(),
        config: json!({ "source": "web" }),
        connections: Default::default(),
        status: crate::model::InstallationStatus::Enabled,
        secret,
        url_token: None,
        created_at: now(),
        updated_at: now(),
        version: 0,
    }
}

/// A run of `installation` accepted, and ended when `ended`.
async fn installation_run(
    store: &SledStore,
    installation: &crate::model::InstallationRecord,
    dedupe_key: &str,
    ended: bool,
) -> RunRecord {
    let mut run = new_run(&installation.workflow, Some(dedupe_key));
    run.record.installation = Some(installation.id.clone());
    run.record.tenant = Some(installation.tenant.clone());
    let accepted = store.accept(&run).await.unwrap();
    let mut record = accepted.run().clone();
    if ended {
        let previous = (record.status, record.due_at);
        record.status = RunStatus::Succeeded;
        record.due_at = None;
        record.finished_at = Some(now());
        let transition = Transition {
            previous,
            run: record.clone(),
            step: None,
            state_writes: Vec::new(),
        };
        store.transition(transition, true).await.unwrap();
    }
    record
}

#[test]
fn an_installation_is_written_only_over_the_version_it_read() {
    let (_dir, store) = store();
    let record = installation("leads");
    assert!(store.put_installation(&record, None).unwrap());
    assert!(!store.put_installation(&record, None).unwrap(), "it exists");
    let stored = store.installation(&record.id).unwrap().unwrap();
    assert_eq!(stored.version, 1);
    let mut paused = stored.clone();
    paused.status = crate::model::InstallationStatus::Paused;
    assert!(store.put_installation(&paused, Some(1)).unwrap());
    assert!(
        !store.put_installation(&stored, Some(1)).unwrap(),
        "a stale write is refused"
    );
    let now_stored = store.installation(&record.id).unwrap().unwrap();
    assert_eq!(now_stored.status, crate::model::InstallationStatus::Paused);
    assert_eq!(store.installations().unwrap().len(), 1);
    store.put_workflow_version("v1", "{}").unwrap();
    assert_eq!(store.workflow_version("v1").unwrap().as_deref(), Some("{}"));
    assert_eq!(store.workflow_version("v2").unwrap(), None);
}

#[tokio::test]
async fn runs_of_installations_dedupe_apart_and_list_by_installation_and_tenant() {
    let (_dir, store) = store();
    let (a, b) = (installation("leads"), installation("leads"));
    let first = installation_run(&store, &a, "k", false).await;
    let again = new_run("leads", Some("k"));
    let mut again = again;
    again.record.installation = Some(a.id.clone());
    assert!(
        matches!(store.accept(&again).await.unwrap(), Accepted::Duplicate(run) if run.id == first.id)
    );
    // The same key in another installation, or the workflow's own, is another event.
    installation_run(&store, &b, "k", false).await;
    assert!(matches!(
        store.accept(&new_run("leads", Some("k"))).await.unwrap(),
        Accepted::New(_)
    ));
    let listed = store
        .list(&RunQuery {
            installation: Some(a.id.clone()),
            ..RunQuery::default()
        })
        .unwrap();
    assert_eq!(listed.runs.len(), 1);
    assert_eq!(listed.runs[0].tenant.as_deref(), Some("acme"));
    let queued = store.queued().unwrap();
    assert_eq!(
        queued
            .iter()
            .filter(|run| run.installation.as_ref() == Some(&a.id))
            .count(),
        1,
        "the queue knows each run's installation"
    );
    // A run stored before installations (no owner part) reads back.
    let plain = store.run(
        queued
            .iter()
            .find(|run| run.installation.is_none())
            .unwrap()
            .id,
    );
    assert_eq!(plain.unwrap().unwrap().installation, None);
}

#[tokio::test]
async fn deleting_an_installation_removes_its_state_and_with_purge_its_finished_runs() {
    let (_dir, store) = store();
    let (gone, kept) = (installation("leads"), installation("leads"));
    for record in [&gone, &kept] {
        store.put_installation(record, None).unwrap();
    }
    let scope = |record: &crate::model::InstallationRecord| {
        crate::model::installation_scope(&record.workflow, &record.id)
    };
    let write = |scope: String, key: &str| crate::model::StateWrite {
        scope,
        key: key.to_owned(),
        value: Some("1".to_owned()),
    };
    store
        .apply(&[
            write(scope(&gone), "trigger:schedule"),
            write(format!("{}/step", scope(&gone)), "count"),
            write(format!("{}/step", scope(&kept)), "count"),
            write("leads/step".to_owned(), "count"),
        ])
        .unwrap();
    let finished = installation_run(&store, &gone, "a", true).await;
    let running = installation_run(&store, &gone, "b", false).await;
    let other = installation_run(&store, &kept, "a", true).await;

    let removed = store
        .delete_installation(&gone.id, &scope(&gone), true)
        .unwrap();
    assert!(removed.installation);
    assert_eq!(removed.state_entries, 2);
    assert_eq!(removed.runs, 1);
    assert_eq!(removed.unfinished_runs, vec![running.id]);
    assert_eq!(store.installation(&gone.id).unwrap(), None);
    assert_eq!(store.run(finished.id).unwrap(), None);
    assert!(store.run(running.id).unwrap().is_some());
    assert!(store.run(other.id).unwrap().is_some());
    assert_eq!(
        store
            .get(&format!("{}/step", scope(&gone)), "count")
            .unwrap(),
        None
    );
    assert!(
        store
            .get(&format!("{}/step", scope(&kept)), "count")
            .unwrap()
            .is_some()
    );
    assert!(store.get("leads/step", "count").unwrap().is_some());
    // The finished run's dedupe key went with it.
    let again = installation_run(&store, &gone, "a", false).await;
    assert_ne!(again.id, finished.id);
}
